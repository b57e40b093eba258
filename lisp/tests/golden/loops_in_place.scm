;; Named lets and `do` loops that are not in tail position (the compiler runs them in place,
;; in the code around them, rather than as procedures of their own) keep Scheme's meaning:
;; values used by more code, effects only, nesting, swapped and reused parameters, fresh
;; bindings per iteration (captured, and mutated after capture), outer variables read and
;; set!, exits through cond/case/and/or/when, and loops that must stay procedures.
(import (scheme base) (scheme write))

;; A loop's value used by more code.
(define (sum-to n) (+ 1000 (let loop ((i 0) (acc 0)) (if (> i n) acc (loop (+ i 1) (+ acc i))))))
(display (sum-to 100)) (newline)

;; Effects only, in the middle of a body, then more code.
(define (fill-squares n)
  (let ((v (make-vector n 0)))
    (do ((i 0 (+ i 1))) ((= i n)) (vector-set! v i (* i i)))
    (vector->list v)))
(display (fill-squares 6)) (newline)

;; Nested loops, the inner one's value feeding the outer.
(define (triangle n)
  (let outer ((i 1) (rows '()))
    (if (> i n)
        (reverse rows)
        (outer (+ i 1) (cons (let inner ((j 1) (s 0)) (if (> j i) s (inner (+ j 1) (+ s j)))) rows)))))
(display (triangle 6)) (newline)

;; Parameters passed swapped and unchanged (a parallel assignment).
(define (swaps k)
  (list (let loop ((a 1) (b 2) (k k)) (if (= k 0) (list a b) (loop b a (- k 1))))
        (let loop ((a 'x) (b 'y) (k k)) (if (= k 0) (list a b) (loop a b (- k 1))))))
(display (swaps 3)) (newline)

;; Each iteration binds fresh variables: closures see their own, also after a set! of them.
(define (capture n)
  (let ((procs (let loop ((i 0) (acc '()))
                 (if (= i n)
                     (reverse acc)
                     (loop (+ i 1) (cons (lambda () (set! i (* i 10)) i) acc))))))
    (list (map (lambda (p) (p)) procs) (map (lambda (p) (p)) procs))))
(display (capture 3)) (newline)

;; Outer variables read and set! from the loop, and the loop exiting through other forms.
(define (classify xs)
  (let ((evens 0) (odds 0))
    (let loop ((xs xs))
      (cond ((null? xs) 'done)
            ((and (number? (car xs)) (even? (car xs))) (set! evens (+ evens 1)) (loop (cdr xs)))
            ((number? (car xs)) (set! odds (+ odds 1)) (loop (cdr xs)))
            (else (case (car xs) ((stop) 'stopped) (else (loop (cdr xs)))))))
    (list evens odds)))
(display (list (classify '(1 2 3 4 5 a 6)) (classify '(2 stop 3 5)))) (newline)
(define (first-negative v)
  (let ((found (let loop ((i 0))
                 (and (< i (vector-length v))
                      (or (and (negative? (vector-ref v i)) i) (loop (+ i 1)))))))
    (if found (list 'at found) 'none)))
(display (list (first-negative (vector 3 1 -4 1 -5)) (first-negative (vector 1 2)))) (newline)

;; A loop whose result is a when/unless value, and one that runs zero times.
(define (countdown n)
  (let ((out '()))
    (let loop ((i n)) (when (> i 0) (set! out (cons i out)) (loop (- i 1))))
    out))
(display (list (countdown 4) (countdown 0))) (newline)

;; Loops that stay procedures: one calling itself other than in tail position, one used as
;; a value, one called from a lambda in its body; and one a million iterations long.
(define (depth t) (let walk ((t t)) (if (pair? t) (+ 1 (max (walk (car t)) (walk (cdr t)))) 0)))
(define (self-ref) (let loop ((i 0)) (if (< i 2) (loop (+ i 1)) (procedure? loop))))
(define (via-lambda n) (let loop ((i 0) (acc '())) (if (= i n) acc ((lambda () (loop (+ i 1) (cons i acc)))))))
(define (long-run n) (* 2 (let loop ((i 0) (s 0)) (if (= i n) s (loop (+ i 1) (+ s 1))))))
(display (list (depth '((1 . 2) (3 (4 . 5)))) (self-ref) (via-lambda 4) (long-run 1000000)))
(newline)
