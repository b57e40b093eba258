; expect: either prints 10000000 (a growable stack) or a clean stack-overflow error; never a crash
(import (scheme base) (scheme write))
(define (count n) (if (= n 0) 0 (+ 1 (count (- n 1)))))
(display (count 10000000))
(newline)
