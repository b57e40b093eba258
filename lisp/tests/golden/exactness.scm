;; exact->inexact and inexact->exact (R5RS names, not exported by (scheme base); no import
;; form here, so the file runs in each Scheme's default environment), exact?/inexact?.
(define (show . xs) (for-each (lambda (x) (write x) (display " ")) xs) (newline))
(show 'exact->inexact (exact->inexact 3) (exact->inexact 7) (exact->inexact -2) (exact->inexact 0))
(show 'inexact->exact (inexact->exact 3.0) (inexact->exact -4.0) (inexact->exact (round 2.6))
      (inexact->exact (floor -2.5)))
(show 'round-trip (= 12345 (inexact->exact (exact->inexact 12345))) (exact? (inexact->exact 1.0))
      (inexact? (exact->inexact 1)))
(show 'arithmetic (+ (exact->inexact 1) 1) (* (inexact->exact 2.0) 3) (/ (exact->inexact 10) 4))
(show 'predicates (exact? 5) (exact? 5.0) (inexact? 0.5) (inexact? 5) (integer? (exact->inexact 5)))
(define (average . xs) (/ (exact->inexact (apply + xs)) (length xs)))
(show 'average (average 1 2 3 4) (average 10))
