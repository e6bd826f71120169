-- Loading: the stdlib compiled into the binary (builtin), require() for .sshs and .lua
-- modules (the script's folder, package.path, $SSHS_PATH, the installed stdlib), and the
-- translation --emit-lua prints. The prelude loads this module by hand on first use, with
-- (core, the runtime table); it sets package.path and puts this module's searchers on
-- package.searchers itself, before any module loads.
local core, runtime = ...
local concat, type, error = table.concat, type, error
local M = {}

-- Every "?.lua" template on package.path is also tried as "?.sshs".
local function sshs_searcher(name)
  local templates = {}
  for t in package.path:gmatch("[^;]+") do
    templates[#templates + 1] = t
    if t:sub(-4) == ".lua" then templates[#templates + 1] = t:sub(1, -5) .. ".sshs" end
  end
  local file, err = package.searchpath(name, concat(templates, ";"))
  if not file then return "\n\t" .. err:gsub("^\n\t", "") end
  -- A translated chunk starts with `local _S=_SSHS`: it needs the global as we set it.
  if file:sub(-5) == ".sshs" and rawget(_G, "_SSHS") ~= runtime then
    error("cannot load module '" .. name .. "' from " .. file .. ": the global _SSHS was " ..
          "reassigned (sshs reserves that name)", 0)
  end
  local fn, msg = core.loadfile(file)
  if not fn then error("error loading module '" .. name .. "' from " .. msg, 0) end
  return fn, file
end

-- The stdlib compiled into the binary: the chunk of a built-in module.
local function embedded_searcher(name)
  local src, filename = core.embedded(name)
  if not src or name == "_prelude" then return "\n\tno built-in sshs module '" .. name .. "'" end
  local fn, msg = core.load(src, "=sshs/" .. filename, filename:sub(-5) == ".sshs" or "bytecode")
  if not fn then error(msg, 0) end
  return fn, "sshs/" .. filename
end

-- A module compiled into the binary is always that one: require finds it before any folder
-- (a _files.lua or json.lua beside a script must not replace the runtime's own), and gets the
-- instance the runtime uses.
local function builtin_searcher(name)
  if name == "_prelude" or not core.embedded(name) then return "\n\tno built-in sshs module '" .. name .. "'" end
  return function() return M.builtin(name) end, "sshs/" .. select(2, core.embedded(name))
end

-- The prelude put these on package.searchers (as [2] and [3]) and set package.path.
M.builtin_searcher, M.sshs_searcher = builtin_searcher, sshs_searcher

-- require() in Lua rather than C, so that a module may run commands (yield) while it loads.
function M.require(name)
  if type(name) ~= "string" then
    M.builtin("_results").user_error("require: expected a module name, got " .. type(name))
  end
  local loaded = package.loaded[name]
  if loaded ~= nil then return loaded end
  local tried = {}
  for _, searcher in ipairs(package.searchers) do
    local loader, extra = searcher(name)
    if type(loader) == "function" then
      local r = loader(name, extra)
      if r ~= nil then package.loaded[name] = r end
      if package.loaded[name] == nil then package.loaded[name] = true end
      return package.loaded[name], extra
    elseif type(loader) == "string" then
      tried[#tried + 1] = loader:match("^\n\t") and loader or "\n\t" .. loader  -- Lua 5.4's C searchers give bare lines
    end
  end
  error("module '" .. name .. "' not found:" .. concat(tried), 2)
end

-- A module compiled into the binary, whatever package.path holds; one instance, shared
-- with require(). It runs with (builtin, core): the runtime's modules reach each other only
-- through this.
local builtins = {_loader = M}
function M.builtin(name)
  local m = builtins[name]
  if m == false then error("built-in module '" .. name .. "' requires itself while it loads", 0) end
  if m == nil then
    local fn = embedded_searcher(name)
    if type(fn) ~= "function" then error("built-in module '" .. name .. "' is missing", 0) end
    builtins[name] = false
    m = fn(M.builtin, core)
    if m == nil then m = true end
    builtins[name] = m
    if package.loaded[name] == nil then package.loaded[name] = m end
  end
  return m
end

-- A built-in module if it has been loaded, else nil: one module may look at another's state
-- (is a fan-out drawing the progress line?) without loading it.
function M.loaded(name)
  return builtins[name] or nil
end

-- For --emit-lua: the translation of a file or chunk, or nil, message.
function M.read_source(path, chunk)
  local src, name = chunk, "(command line)"
  if path then
    local f, err = io.open(path, "rb")
    if not f then return nil, nil, "cannot open " .. err end
    src, name = f:read("a"), path
    f:close()
    if path:sub(-4) == ".lua" then return src end
  end
  local lua, line, msg = core.translate(src)
  if not lua then return nil, nil, name .. ":" .. line .. ": " .. msg end
  return lua
end

return M
