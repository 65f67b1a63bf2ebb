-- Run Claude Code's subagents (Explore, Task, ...: marked by the x-claude-code-agent-id header)
-- and its Haiku background calls on a cheap, fast model; the main agent keeps the built-in
-- rules. Small subagent prompts go to the cheapest model, big ones to one with more context.
local ccr = require("ccr")

local CHEAP = "gemini,gemini-2.5-flash-lite"
local CHEAP_LONG = "gemini,gemini-2.5-flash" -- for subagent prompts over 100k tokens

function route(req, config)
  if ccr.is_subagent(req) then
    if req.tokens > 100000 then return CHEAP_LONG end
    return { CHEAP, CHEAP_LONG } -- CHEAP_LONG if CHEAP fails before answering
  end
  if ccr.family(req.model) == "haiku" then return CHEAP end
  return nil
end
