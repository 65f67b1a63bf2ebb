-- Send Claude Code's Opus requests to one model and its Sonnet requests to another; everything
-- else (Haiku background calls, long context, ...) goes to the built-in rules.
-- Install: copy to ~/.ccrelay/custom-router.lua (or set CUSTOM_ROUTER_PATH) and edit the
-- targets below; each must be a "provider,model" of your config. Edits apply on save.
local ccr = require("ccr")

local OPUS = "openrouter,x-ai/grok-4.1-fast"
local SONNET = "gemini,gemini-2.5-flash"

function route(req, config)
  local family = ccr.family(req.model)
  if family == "opus" then return OPUS end
  if family == "sonnet" then return SONNET end
  return nil
end
