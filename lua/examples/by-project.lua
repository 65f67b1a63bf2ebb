-- Per-project override: pick the model from the project Claude Code runs in.
--   1. an explicit header, set in the project's shell:
--        export ANTHROPIC_CUSTOM_HEADERS="x-ccrelay-project: billing"
--   2. else the working directory Claude Code names in its system prompt (read lazily from
--      req.body, nothing is copied).
-- Unknown projects fall through to the built-in rules. Subagents follow their project too.
local ccr = require("ccr")

local BY_HEADER = {
  billing = "openrouter,deepseek/deepseek-v3.2",
}

-- Longest matching directory prefix wins.
local BY_DIRECTORY = {
  { "/srv/cc/proj", "gemini,gemini-2.5-pro" },
  { "/home/me/oss", "openrouter,qwen/qwen3-coder" },
}

return function(req, config)
  local project = ccr.header(req, "x-ccrelay-project")
  if project and BY_HEADER[project] then
    -- a fallback keeps the session going if the first provider fails before answering
    return { target = BY_HEADER[project], fallback = { config.Router.default } }
  end
  local dir = ccr.working_directory(req)
  if dir then
    local best, best_len = nil, 0
    for _, e in ipairs(BY_DIRECTORY) do
      local prefix = e[1]
      if (dir == prefix or dir:sub(1, #prefix + 1) == prefix .. "/") and #prefix > best_len then
        best, best_len = e[2], #prefix
      end
    end
    if best then return best end
  end
  return nil
end
