; expect: compile (syntax) error: malformed let binding list (binding (x) has no value / (y 1 2) has two)
(import (scheme base) (scheme write))
(let ((x) (y 1 2))
  (display x))
