-- The custom router cpu_bench times (about 30 lines, the size of a typical user's router):
-- a project header, the working directory read lazily from req.body, the model family, the
-- token estimate, the thinking level and the tool list, with a fallback. Targets are the
-- providers cpu_bench configures (bench, cheap, big).
local ccr = require("ccr")

local BY_PROJECT = { billing = "cheap,m1", infra = "big,m1" }
local BY_DIRECTORY = { { "/srv/cc/proj", "big,m1" }, { "/home/me/oss", "cheap,m1" } }

return function(req, config)
  local project = ccr.header(req, "x-ccrelay-project")
  if project and BY_PROJECT[project] then
    return { target = BY_PROJECT[project], fallback = { config.Router.default } }
  end
  local dir = ccr.working_directory(req)
  if dir then
    for _, e in ipairs(BY_DIRECTORY) do
      if dir:sub(1, #e[1]) == e[1] then return e[2] end
    end
  end
  if ccr.family(req.model) == "haiku" then return "cheap,m1" end
  if (req.tokens or 0) > 100000 then return "big,m1" end
  if ccr.level_at_least(req.thinking_level, "high") then return "big,m1" end
  for _, name in ipairs(req.tools or {}) do
    if name == "WebSearch" then return "big,m1" end
  end
  if ccr.is_subagent(req) then return ccr.with_fallback("cheap,m1", "bench,m1") end
  return nil -- the built-in rules decide
end
