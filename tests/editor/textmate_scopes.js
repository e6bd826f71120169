// Tokenizes tests/editor/sample.sshs with editors/textmate/sshs.tmLanguage.json (Lua and shell
// from the tm-grammars package, as VS Code ships them) and prints a TAP line per row of
// expect.txt: "LINE COL VIMGROUP SCOPE WHAT"; SCOPE must be a substring of the scopes of the
// token at LINE:COL ("!SCOPE": must not be).
// Usage: node textmate_scopes.js NODE_MODULES GRAMMAR SAMPLE EXPECT
const fs = require('fs'), path = require('path');
const [mods, grammarPath, sample, expect] = process.argv.slice(2);
const vsctm = require(path.join(mods, 'vscode-textmate'));
const onig = require(path.join(mods, 'vscode-oniguruma'));
const wasm = fs.readFileSync(path.join(mods, 'vscode-oniguruma/release/onig.wasm')).buffer;
const files = {
  'source.sshs': grammarPath,
  'source.lua': path.join(mods, 'tm-grammars/grammars/lua.json'),
  'source.shell': path.join(mods, 'tm-grammars/grammars/shellscript.json'),
};
const registry = new vsctm.Registry({
  onigLib: onig.loadWASM(wasm).then(() => ({
    createOnigScanner: p => new onig.OnigScanner(p),
    createOnigString: s => new onig.OnigString(s),
  })),
  loadGrammar: async s => (files[s] ? vsctm.parseRawGrammar(fs.readFileSync(files[s], 'utf8'), files[s]) : null),
});
registry.loadGrammar('source.sshs').then(g => {
  const lines = fs.readFileSync(sample, 'utf8').split('\n');
  const scopesAt = [];
  let st = vsctm.INITIAL;
  lines.forEach(line => {
    const r = g.tokenizeLine(line, st);
    scopesAt.push(r.tokens);
    st = r.ruleStack;
  });
  const rows = fs.readFileSync(expect, 'utf8').split('\n').filter(l => l.trim() && !l.startsWith('#'));
  console.log(`1..${rows.length}`);
  for (const row of rows) {
    const m = row.match(/^(\d+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(.*)$/);
    const [l, c, scope, what] = [+m[1], +m[2], m[4], m[5]];
    const tok = (scopesAt[l - 1] || []).find(t => t.startIndex <= c - 1 && c - 1 < t.endIndex);
    const have = tok ? tok.scopes.join(' ') : '';
    const good = scope.startsWith('!') ? !have.includes(scope.slice(1)) : have.includes(scope);
    console.log(`${good ? 'ok' : 'not ok'} - textmate: ${what} (${l}:${c} ${scope})`);
    if (!good) console.log(`#   scopes there: ${have}`);
  }
}).catch(e => { console.log(`not ok - textmate grammar loads\n#   ${e}`); process.exit(1); });
