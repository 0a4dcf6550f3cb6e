-- wrk script: POST a fresh report (random id, random point in the Xinglongtai core) per request.
-- Each wrk thread runs this file in its own Lua state: seed each one differently.
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000003)
local function uuid()
  local t = "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"
  return (string.gsub(t, "[xy]", function(c)
    local v = (c == "x") and math.random(0, 15) or math.random(8, 11)
    return string.format("%x", v)
  end))
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local lon = 122.03 + math.random() * 0.08
  local lat = 41.10 + math.random() * 0.05
  local body = string.format(
    '{"id":"%s","category":"30","subcategory":"3001","description":"load test","source":"citizen",' ..
    '"location":{"lon":%.6f,"lat":%.6f,"crs":"wgs84"},"reported_at":"2026-11-22T08:00:00+08:00"}',
    uuid(), lon, lat)
  return wrk.format(nil, nil, nil, body)
end
