; expect: run-time error deep in a recursion the compiler unrolled: one backtrace frame per activation, as without unrolling
(import (scheme base) (scheme write))
(define (sum-tree t)
  (if (pair? t) (+ (sum-tree (car t)) (sum-tree (cdr t))) (+ t 0)))
(display (sum-tree '((1 . 2) 3 . 4))) (newline)
(sum-tree '((1 . 2) x . 4))
