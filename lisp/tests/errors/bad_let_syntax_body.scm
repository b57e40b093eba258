; expect: compile (syntax) error: let with no body
(import (scheme base))
(let ((x 1)))
