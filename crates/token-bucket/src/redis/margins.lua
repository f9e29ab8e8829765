-- The learned margins, as the state stands after `tick` (acquire, bulk_budget, snapshot).

-- Mirrors `Core::drift_margin`: the drift of the current or previous period, at most one
-- refill's worth, never negative.
local one_refill = math.max(s[RATE], 0) * MILLI
local drift_margin =
  math.max(math.min(math.max(s[DRIFT_PREVIOUS], s[DRIFT_CURRENT]), one_refill), 0)
-- Mirrors `Core::urgent_reserve`: the policy's, or the recent urgent demand up to one refill.
local urgent_reserve =
  math.max(policy_urgent_reserve, math.min(math.max(s[URGENT_PREVIOUS], s[URGENT_CURRENT]), one_refill))
-- Mirrors `Core::one_refill_for_us`: one refill less the drift margin, never negative.
local one_refill_for_us = math.max(one_refill - drift_margin, 0)
