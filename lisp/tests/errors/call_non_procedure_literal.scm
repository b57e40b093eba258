; expect: run-time error: attempt to call a non-procedure (the string "abc"); may be rejected at compile time
(import (scheme base))
("abc" 1)
