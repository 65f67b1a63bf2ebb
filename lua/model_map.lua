-- The built-in rules when a LiteLLM model map is active (ccrelay serve --litellm-config FILE, or
-- litellm_config in config.json): the model name Claude Code asks for is looked up in the
-- model_list of litellm_config.yaml, as LiteLLM's router does. A custom router runs first and
-- can return nil to leave the decision here, or read config.model_map itself.
--
-- config.model_map (built by src/litellm.c, read-only):
--   source            the file it was read from
--   routing_strategy  "simple-shuffle" (weighted random, LiteLLM's default) or "round-robin"
--   num_retries       attempts beyond the first within the model group (router_settings)
--   groups            { {model_name = "claude-sonnet-*", deployments = {
--                         {provider = "openrouter", model = "x-ai/grok-4.1-fast", weight = 1,
--                          order = 1 (optional), missing_key = true (optional),
--                          litellm_model = "openrouter/x-ai/grok-4.1-fast", index = 0,
--                          line = 12}, ...}}, ...}  in the file's order
--   aliases           { ["alias"] = "model_name" }          (router_settings.model_group_alias)
--   fallbacks         { ["model_name"] = {"other", ...} }   (router_settings.fallbacks)
--   default_fallbacks {"name", ...}
--
-- Lookup: an explicit "provider,model" first; then an exact model_name (case-sensitive, then
-- ignoring case) or alias; then the ids of GET /v1/models and "provider/model"; then wildcard
-- model_names, the most specific first ("claude-sonnet-*" before "claude-*" before "*"); then
-- Router.default of config.json when set. A `*` in a deployment's model takes what the `*`s of
-- the model_name matched ("openai/*" under "*" sends the requested name as it is).
--
-- Balancing: the deployments of a group are ordered by `order` (lowest first; none comes last),
-- those whose key variable is unset after the others; within one level the first deployment is
-- picked by the strategy and the rest follow in turn. The whole list is returned, so the relay
-- fails over to the next deployment on a connection error, 429 or 5xx, as LiteLLM does; then
-- the fallbacks' deployments. The round-robin counters live in this Lua state, i.e. as long as
-- this configuration generation.
local ccr = require("ccr")

local MAX_TARGETS = 8 -- the relay tries at most this many targets (policy.h ROUTE_MAX_TARGETS)

local index      -- built on the first call: config is fixed for the life of this state
local turns = {} -- round-robin counters, per group and order level

local function lua_pattern(glob)
  -- every `*` becomes a position-captured ".-"; everything else is literal
  local out = { "^" }
  for i = 1, #glob do
    local c = glob:sub(i, i)
    if c == "*" then
      out[#out + 1] = "()" .. ".-" .. "()"
    elseif c:find("^[%^%$%(%)%%%.%[%]%+%-%?]$") then
      out[#out + 1] = "%" .. c
    else
      out[#out + 1] = c
    end
  end
  out[#out + 1] = "$"
  return table.concat(out)
end

local function build_index(mm)
  local idx = { exact = {}, lower = {}, patterns = {}, aliases = {} }
  for pos, g in ipairs(mm.groups or {}) do
    local name = g.model_name
    if name:find("*", 1, true) then
      local literal = #(name:gsub("%*", ""))
      idx.patterns[#idx.patterns + 1] = { group = g, pat = lua_pattern(name:lower()),
                                          literal = literal, pos = pos }
    else
      idx.exact[name] = idx.exact[name] or g
      idx.lower[name:lower()] = idx.lower[name:lower()] or g
    end
  end
  table.sort(idx.patterns, function(a, b)
    if a.literal ~= b.literal then return a.literal > b.literal end
    return a.pos < b.pos
  end)
  for alias, target in pairs(mm.aliases or {}) do idx.aliases[alias] = target end
  return idx
end

-- The group for a name and what its `*`s matched: group, captures, or nil.
local function exact(name)
  return index.exact[name] or index.lower[name:lower()]
end

local function by_pattern(name)
  local lname = name:lower()
  for _, p in ipairs(index.patterns) do
    local pos = { lname:match(p.pat) }
    if pos[1] ~= nil then
      local caps = {}
      for i = 1, #pos, 2 do caps[#caps + 1] = name:sub(pos[i], pos[i + 1] - 1) end
      return p.group, caps
    end
  end
  return nil
end

local function lookup(name)
  local g = exact(name)
  if g then return g, {} end
  local target = index.aliases[name]
  if target then
    g = exact(target)
    if g then return g, {} end
    return by_pattern(target)
  end
  return nil
end

local function substitute(model, caps)
  if not model:find("*", 1, true) then return model end
  local i = 0
  return (model:gsub("%*", function()
    i = i + 1
    return caps[i] or caps[#caps] or ""
  end))
end

-- The index of the first deployment of `level` (a list), by the strategy.
local function first_of(level, strategy, key)
  local n = #level
  if n == 1 then return 1 end
  if strategy == "round-robin" then
    local t = (turns[key] or 0) + 1
    turns[key] = t
    return (t - 1) % n + 1
  end
  local total = 0
  for _, d in ipairs(level) do total = total + (d.weight or 1) end
  if total <= 0 then return math.random(n) end
  local r = math.random() * total
  for i, d in ipairs(level) do
    r = r - (d.weight or 1)
    if r < 0 then return i end
  end
  return n
end

-- The group's targets in the order they are to be tried.
local function sequence(g, caps, strategy)
  local levels, keys = {}, {}
  for _, d in ipairs(g.deployments) do
    local o = d.order or math.huge
    local key = string.format("%s/%s", o, d.missing_key and 1 or 0)
    if not levels[key] then
      levels[key] = { order = o, missing = d.missing_key and 1 or 0 }
      keys[#keys + 1] = key
    end
    local l = levels[key]
    l[#l + 1] = d
  end
  table.sort(keys, function(a, b)
    local x, y = levels[a], levels[b]
    if x.order ~= y.order then return x.order < y.order end
    return x.missing < y.missing
  end)
  local out = {}
  for _, key in ipairs(keys) do
    local level = levels[key]
    local start = first_of(level, strategy, g.model_name .. "\0" .. key)
    for k = 0, #level - 1 do
      if #out >= MAX_TARGETS then return out end
      local d = level[(start - 1 + k) % #level + 1]
      out[#out + 1] = d.provider .. "," .. substitute(d.model, caps)
    end
  end
  return out
end

local function explicit(model)
  if model == nil or model == "" then return nil end
  if string.find(model, ",", 1, true) then return model end
  return (ccrelay.resolve(model))
end

local function route(req, config)
  local mm = config.model_map
  if not mm then return nil end
  index = index or build_index(mm)
  local name = req.model or ""

  if name:find(",", 1, true) then return name, "explicit" end
  local g, caps = lookup(name)
  if not g then
    local target = explicit(name)
    if target then return target, "explicit" end
    g, caps = by_pattern(name)
  end
  if not g then
    local d = ccr.first_route(config, "default")
    if d then return d, "default" end
    error(string.format("model '%s' matches no model_name in %s; add an entry for it, or a "
      .. "catch-all (model_name: \"*\")", name, mm.source or "the LiteLLM config"), 0)
  end

  local strategy = mm.routing_strategy or "simple-shuffle"
  local seq = sequence(g, caps, strategy)
  local list = {}
  local attempts = math.max(#seq, (mm.num_retries or 0) + 1)
  for i = 1, math.min(attempts, MAX_TARGETS) do list[i] = seq[(i - 1) % #seq + 1] end

  local fb = mm.fallbacks and (mm.fallbacks[g.model_name] or mm.fallbacks[name])
  fb = fb or mm.default_fallbacks
  if fb then
    for _, other in ipairs(fb) do
      local fg, fcaps = lookup(other)
      if not fg then fg, fcaps = by_pattern(other) end
      if fg and fg ~= g then
        for _, t in ipairs(sequence(fg, fcaps, strategy)) do
          if #list >= MAX_TARGETS then break end
          list[#list + 1] = t
        end
      end
    end
  end
  return list, "model_map:" .. g.model_name
end

return route
