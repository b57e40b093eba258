;; Inlining and its simplifications keep Scheme's meaning: arguments are evaluated once and
;; in order, mutation and shadowing behave, let-bound procedures used several times or
;; once (in a loop) are each right, and procedures stay first-class.
(define trace '())
(define (note x) (set! trace (cons x trace)) x)
(define (sub3 a b c) (- a (- b c)))
(define (twice x) (+ x x))

;; Each argument exactly once, even when the parameter is unused or used twice (the order of
;; a call's arguments is unspecified, so only the sequence of calls is checked).
(define (ignore-first a b) b)
(let* ((r1 (sub3 (note 10) (note 3) (note 1)))
       (r2 (twice (note 4)))
       (r3 (ignore-first (note 'x) 5)))
  (display (list r1 r2 r3 (length trace) (car trace))))
(newline)

;; A parameter named like a caller's variable, and nesting.
(define (shadow x) (let ((y (* x 2))) (+ x y)))
(define (outer x y) (shadow (+ x y)))
(let ((x 1) (y 100)) (display (list (outer x 2) (shadow y) x y))) (newline)

;; Mutation: of a parameter, of a caller's variable through a closure, of a global.
(define (bump-param n) (set! n (+ n 1)) n)
(define counter 0)
(define (bump-global!) (set! counter (+ counter 1)) counter)
(let* ((v 5) (p (bump-param v)) (g1 (bump-global!)) (g2 (bump-global!)))
  (display (list p v g1 g2 counter)))
(newline)
(define (make-box v) (lambda (op) (if (eq? op 'get) v (begin (set! v (+ v 1)) v))))
(let ((b (make-box 7)))
  (b 'inc) (b 'inc)
  (display (list (b 'get) ((make-box 0) 'get))))
(newline)

;; A let-bound procedure called several times, and one called once inside a loop.
(let ((sq (lambda (x) (* x x)))
      (acc 0))
  (let ((inc! (lambda (d) (set! acc (+ acc d)) acc)))
    (inc! (sq 3))
    (inc! (sq 4))
    (display (list acc (inc! 0)))))
(newline)
(let ((step (lambda (x) (+ x 3))))
  (display (let loop ((i 0) (x 0)) (if (= i 5) x (loop (+ i 1) (step x))))))
(newline)

;; A procedure bound once and used as a value keeps its identity.
(let ((f (lambda (x) x)))
  (display (list (eq? f f) (f 'same) (procedure? f))))
(newline)

;; Closures returned by inlined procedures are separate, and still procedures.
(define (adder n) (lambda (x) (+ x n)))
(define a (adder 1))
(define b (adder 2))
(display (list (a 10) (b 10) (eq? a b) ((adder 3) 10))) (newline)

;; Mutual recursion is called, not unrolled forever.
(define (my-even? n) (if (= n 0) #t (my-odd? (- n 1))))
(define (my-odd? n) (if (= n 0) #f (my-even? (- n 1))))
(display (list (my-even? 10) (my-odd? 7) (my-even? 7))) (newline)

;; Internal definitions and a rest argument.
(define (hyp a b) (define (sq x) (* x x)) (+ (sq a) (sq b)))
(define (count-args . xs) (length xs))
(display (list (hyp 3 4) (count-args) (count-args 1 2 3))) (newline)

;; A constant test after substitution, and a procedure with effects in both branches.
(define (pick flag) (if flag (note 'yes) (note 'no)))
(set! trace '())
(let* ((y (pick #t)) (n (pick #f))) (display (list y n (reverse trace)))) (newline)

;; As values: mapped and applied.
(display (list (map twice '(1 2 3)) (apply sub3 '(10 4 1)))) (newline)
