;; An unbound variable is a run-time error.
;; exit: 1
;; stderr: unbound variable: undefined-thing
(display "start") (newline)
(define (f) undefined-thing)
(f)
