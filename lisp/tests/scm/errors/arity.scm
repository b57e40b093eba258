;; Wrong number of arguments through a procedure value.
;; exit: 1
;; stderr: wrong number of arguments
;; stderr: `two` takes 2 argument(s), 1 given
(define (two a b) a)
(define (call f) (f 1) 'after)
(call two)
