-- The built-in routing rules (DESIGN.md "The policy contract"). route(req, config) returns the
-- target and the name of the rule that fired, one of: explicit, longContext, subagentModel,
-- background, subagent, webSearch, think, image, default. A rule whose Router entry is unset
-- (or "") falls through to the next one. A custom router runs before these rules; when it
-- returns nil (or fails) they decide.
local ccr = require("ccr")

local function explicit(model)
  if model == nil or model == "" then return nil end
  -- "provider,model" always means an explicit choice (an unknown provider is an error).
  if string.find(model, ",", 1, true) then return model end
  -- "provider/model" (Claude Code Router 3) when the first segment names a provider, and the
  -- ids that GET /v1/models lists (claude-via-...).
  return (ccrelay.resolve(model))
end

-- A Router entry, or nil when unset or empty.
local function entry(R, key)
  local v = R[key]
  if v == "" then return nil end
  return v
end

local KEYS = { "default", "background", "think", "longContext", "webSearch", "image", "subagent",
               "longContextThreshold", "thinkLevel" }

local function route(req, config)
  local router = type(config.Router) == "table" and config.Router or {}
  local R = {}
  for _, k in ipairs(KEYS) do R[k] = entry(router, k) end
  local target = explicit(req.model)
  if target then return target, "explicit" end

  local threshold = tonumber(R.longContextThreshold) or 60000
  if R.longContext and req.tokens > threshold then return R.longContext, "longContext" end

  if req.subagent_model then return req.subagent_model, "subagentModel" end

  local model = string.lower(req.model or "")
  if R.background and string.find(model, "claude", 1, true) and string.find(model, "haiku", 1, true) then
    return R.background, "background"
  end

  if R.subagent and req.agent_id then return R.subagent, "subagent" end

  if R.webSearch and req.web_search then return R.webSearch, "webSearch" end

  if R.think and ccr.level_at_least(req.thinking_level, R.thinkLevel or "high") then
    return R.think, "think"
  end

  if R.image and req.images then return R.image, "image" end

  return R.default, "default"
end

return route
