; expect: run-time error: string-ref index 5 out of range for string of length 3
(import (scheme base) (scheme write))
(display (string-ref "abc" 5))
