; expect: run-time error: vector-ref index 10 out of range for vector of length 3
(import (scheme base) (scheme write))
(define v (vector 1 2 3))
(display (vector-ref v 2))
(newline)
(display (vector-ref v 10))
(newline)
