" sshs scripts: *.sshs, and files whose first line runs sshs (#!/usr/bin/env sshs).
au BufRead,BufNewFile *.sshs setfiletype sshs
au BufRead,BufNewFile * if getline(1) =~# '^#!.*\<sshs\>' | setfiletype sshs | endif
