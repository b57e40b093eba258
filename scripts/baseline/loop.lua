-- loop: tight integer loop (LCG step, modulo, compare, data-dependent branch)
-- All intermediates stay below 2^53 so LuaJIT's doubles give exact results.
local function run(n)
  local x, acc = 1, 0
  for i = 1, n do
    x = (x * 69069 + 1) % 4294967296
    local r = x % 1000
    if r < 500 then
      acc = acc + r
    else
      acc = acc - i % 7
    end
  end
  return acc
end

local n = tonumber(arg and arg[1]) or 100000000
print(string.format("%d", run(n)))
