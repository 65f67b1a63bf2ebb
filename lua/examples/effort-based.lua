-- Choose the model from how hard Claude Code asks the model to think (`/effort` in Claude
-- Code, or the thinking budget of older versions): req.thinking_level is one of
-- off < low < medium < high < xhigh < max.
local ccr = require("ccr")

local BY_LEVEL = {
  off = "gemini,gemini-2.5-flash-lite",
  low = "gemini,gemini-2.5-flash",
  medium = "openrouter,x-ai/grok-4.1-fast",
  high = "gemini,gemini-2.5-pro",
}

function route(req, config)
  if ccr.level_at_least(req.thinking_level, "xhigh") then
    -- the strongest model, with the high-effort one as fallback
    return { target = "openrouter,deepseek/deepseek-v3.2", fallback = { BY_LEVEL.high } }
  end
  return BY_LEVEL[req.thinking_level]
end
