-- The built-in routing rules. route(req, config) returns "provider,model", a list of them
-- (fallbacks), or nil. This first version sends every request to Router.default; the full
-- rules of DESIGN.md ("The policy contract") replace it.
local function route(req, config)
  local r = config.Router or {}
  return r.default
end

return route
