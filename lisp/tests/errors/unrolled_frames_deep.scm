; expect: run-time error six activations deep in a recursion the compiler unrolled two levels (so past a real call between the copies): one backtrace frame per activation
(import (scheme base) (scheme write))
(define (sum-tree t)
  (if (pair? t) (+ (sum-tree (car t)) (sum-tree (cdr t))) (+ t 0)))
(display (sum-tree '((((1 . 2) . 3) . 4) . 5))) (newline)
(sum-tree '(1 . (2 . (3 . (4 . (x . 6))))))
