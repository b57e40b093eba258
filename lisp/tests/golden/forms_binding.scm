(import (scheme base) (scheme write))
;; define (top-level and internal), lambda with rest args, let, let*, letrec, letrec*,
;; named let, do, set!, quote, let-values, let*-values, define-values.
(define (show . xs) (for-each display xs) (newline))

(define x 10)
(define (f a b) (+ a b))
(show "define: " x " " (f 1 2))

(define (outer n)
  (define k 3)
  (define (inner m) (* m k))
  (define j (inner n))
  (+ j 1))
(show "internal define: " (outer 5))

(define (rest-all . args) args)
(define (rest-some a b . r) (list a b r))
(show "rest: " (rest-all) " " (rest-all 1 2) " " (rest-some 1 2) " " (rest-some 1 2 3 4))
(show "lambda rest: " ((lambda args (length args)) 1 2 3) " "
      ((lambda args args)) " "
      ((lambda (a . rest) (list a rest)) 1 2 3) " "
      ((lambda (a . rest) (list a rest)) 1))
(define g (lambda (a b . c) (list c b a)))
(show "lambda dotted: " (g 1 2) " " (g 1 2 3))

(show "let: " (let ((a 1) (b 2)) (let ((a b) (b a)) (list a b))))
(show "let empty: " (let () 5))
(show "let*: " (let* ((a 1) (b (+ a 1)) (c (* b 10))) (list a b c)))
(show "let* shadow: " (let* ((a 1) (a (+ a 1)) (a (* a 10))) a))
(show "letrec: "
      (letrec ((ev? (lambda (n) (if (= n 0) #t (od? (- n 1)))))
               (od? (lambda (n) (if (= n 0) #f (ev? (- n 1))))))
        (list (ev? 10) (od? 7) (ev? 7))))
(show "letrec*: " (letrec* ((a 5) (b (lambda () (* a 2))) (c (b))) (list a c)))
(show "named let: "
      (let loop ((i 0) (acc '()))
        (if (= i 5) (reverse acc) (loop (+ i 1) (cons (* i i) acc)))))
(show "named let sum: " (let sum ((i 100) (s 0)) (if (= i 0) s (sum (- i 1) (+ s i)))))
(show "do: " (do ((i 0 (+ i 1)) (s 0 (+ s i))) ((= i 5) s)))
(show "do body: " (do ((v (make-vector 5)) (i 0 (+ i 1))) ((= i 5) v) (vector-set! v i (* i i))))
(show "do no step: " (do ((i 0 (+ i 1)) (acc '())) ((= i 3) acc) (set! acc (cons i acc))))

(define counter 0)
(set! counter (+ counter 1))
(set! counter (+ counter 1))
(show "set!: " counter)
(show "set! local: " (let ((v 1)) (set! v (* v 7)) (set! v (+ v 1)) v))
(show "shadow: " (let ((x 1)) (let ((x (+ x 1))) x)) " " x)
(show "let body defines: " (let () (define a 1) (define b (+ a 1)) (* a b 7)))
(show "lambda body define: " ((lambda (n) (define sq (* n n)) (+ sq 1)) 6))
(define (uses-later) (later-defined 4))
(define (later-defined n) (* n 100))
(show "forward reference: " (uses-later))

(show "quote: " 'a " " '(1 (2 "three") #\4) " " '() " " '#(1 2))
(write (quote (a b "c" #\d 1 (e . f))))
(newline)
(write ''a)
(newline)

(show "let-values: "
      (let-values (((q r) (floor/ 17 5)) ((a . rest) (values 1 2 3)) (all (values 4 5)))
        (list q r a rest all)))
(show "let*-values: " (let*-values (((a b) (values 1 2)) ((c) (values (+ a b)))) (list a b c)))
(define-values (dq dr) (truncate/ 17 5))
(show "define-values: " dq " " dr)
