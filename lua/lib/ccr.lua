-- ccr: helpers for ccrelay policy authors.  local ccr = require("ccr")
--
-- A policy is `route(req, config)` returning nil (no opinion: the built-in rules decide),
-- "provider,model", or a list of them / {target = ..., fallback = {...}} for fallbacks.
-- `req` and `config` are read-only tables (proxies: index them, use # and pairs/ipairs; next()
-- sees nothing, assignment raises an error). Secrets in `config` read "<redacted>".
-- `req.body` is a lazy read-only view of the request JSON (type "userdata"): index, #, pairs,
-- ipairs; nested objects are views too; JSON null reads as nil. It is valid only during the
-- route() call that received it: copy what you need to keep.
-- The C side also offers ccrelay.resolve(s) (a target in the configured spelling, or nil and
-- the reason) and ccrelay.log(...) (an info line in ccrelay's log).
local ccr = {}

-- Thinking levels, lowest first. req.thinking_level is one of them.
ccr.LEVELS = { "off", "low", "medium", "high", "xhigh", "max" }
local RANK = {}
for i, l in ipairs(ccr.LEVELS) do RANK[l] = i end

-- The rank of a level (1 for "off" ... 6 for "max"), or nil for an unknown name.
function ccr.level_rank(level)
  return RANK[level and string.lower(level) or ""]
end

-- Is `level` at or above `min`? min "any" means any thinking at all (level ~= "off").
-- An unknown min never matches.
function ccr.level_at_least(level, min)
  if min == nil then return false end
  if string.lower(min) == "any" then return level ~= nil and level ~= "off" end
  local a, b = ccr.level_rank(level), ccr.level_rank(min)
  return a ~= nil and b ~= nil and a >= b
end

-- The Claude family of a model id: "opus", "sonnet" or "haiku", or nil.
-- Works for every naming scheme: claude-opus-4-8, claude-opus-5-5, claude-3-5-sonnet-20241022,
-- claude-haiku-4-5-20251001, anthropic/claude-sonnet-4.5, claude-3-opus-latest.
function ccr.family(model)
  if type(model) ~= "string" then return nil end
  local m = string.lower(model)
  if not string.find(m, "claude", 1, true) then return nil end
  for _, f in ipairs({ "opus", "sonnet", "haiku" }) do
    if string.find(m, f, 1, true) then return f end
  end
  return nil
end

-- The first Router entry that is set, among the keys given in order:
--   ccr.first_route(config, "think", "default")
function ccr.first_route(config, ...)
  local r = config and config.Router
  if not r then return nil end
  for i = 1, select("#", ...) do
    local v = r[select(i, ...)]
    if type(v) == "string" and v ~= "" then return v end
  end
  return nil
end

-- A target with fallbacks, dropping unset entries: ccr.with_fallback(a, b, c).
-- Returns nil when all are unset.
function ccr.with_fallback(...)
  local list = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if type(v) == "string" and v ~= "" then list[#list + 1] = v end
  end
  if #list == 0 then return nil end
  return list
end

-- Is this a subagent request (Explore, Task...)? Claude Code marks them with a header.
function ccr.is_subagent(req)
  return req.agent_id ~= nil
end

-- A request header (name compared lower-case); credentials are never visible.
function ccr.header(req, name)
  return req.headers and req.headers[string.lower(name)] or nil
end

-- The working directory Claude Code states in its system prompt ("Primary working directory:"),
-- read lazily from req.body; nil when absent.
function ccr.working_directory(req)
  local body = req.body
  if not body then return nil end
  local function scan(text)
    if type(text) ~= "string" then return nil end
    return string.match(text, "Primary working directory: ([^\n]+)")
  end
  local function scan_content(content)
    if type(content) == "string" then return scan(content) end
    if content == nil then return nil end
    for _, block in ipairs(content) do
      local d = scan(block.text)
      if d then return d end
    end
    return nil
  end
  local d = scan_content(body.system)
  if d then return d end
  local messages = body.messages
  if messages then
    for _, m in ipairs(messages) do
      if m.role == "system" or m.role == "user" then
        d = scan_content(m.content)
        if d then return d end
      end
    end
  end
  return nil
end

return ccr
