;; Procedures that only build closures (make-adder, make-acc, compose, church numerals):
;; each call makes a fresh closure over its own arguments, mutable captured parameters
;; are per call, and the procedures still work as values.
(define (make-adder n) (lambda (x) (+ x n)))
(define (make-acc total) (lambda (x) (set! total (+ total x)) total))
(define (make-counter) (let ((n 0)) (lambda () (set! n (+ n 1)) n)))
(define (compose f g) (lambda (x) (f (g x))))
(define (konst k) (lambda args k))
(define (pair-of a b) (let ((p a) (q b)) (lambda (sel) (if sel p q))))
(define (church n) (lambda (f) (lambda (x) (let loop ((i n) (x x)) (if (= i 0) x (loop (- i 1) (f x)))))))

(define add3 (make-adder 3))
(define add4 (make-adder (+ 1 3)))
(display (list (add3 1) (add4 1))) (newline)

(define a1 (make-acc 10))
(define a2 (make-acc 100))
(a1 5) (a2 1)
(let* ((x (a1 0)) (y (a2 0)) (z (a1 1))) (display (list x y z))) (newline)

(define c1 (make-counter))
(define c2 (make-counter))
(c1) (c1) (c2)
(let* ((x (c1)) (y (c2))) (display (list x y))) (newline)

(define (twice-compose f) (compose f f))
(display ((twice-compose (make-adder 10)) 1)) (newline)
(display ((compose (make-adder 1) (compose (make-adder 2) (make-adder 3))) 0)) (newline)
(display ((konst 'k) 1 2 3)) (newline)
(define p (pair-of 'left 'right))
(display (list (p #t) (p #f))) (newline)
(display (((church 4) (make-adder 5)) 0)) (newline)

;; As values: mapped, applied, passed along.
(display (map (lambda (f) (f 1)) (map make-adder '(1 2 3)))) (newline)
(display ((apply compose (list (make-adder 1) (make-adder 2))) 0)) (newline)
(define (fold f acc l) (if (null? l) acc (fold f (f acc (car l)) (cdr l))))
(display ((fold compose (lambda (x) x) (list (make-adder 1) (make-adder 10) (make-adder 100))) 0))
(newline)
;; Inside a loop, each iteration's closure is its own.
(define fs (let loop ((i 0) (acc '())) (if (= i 3) (reverse acc) (loop (+ i 1) (cons (make-adder i) acc)))))
(display (map (lambda (f) (f 100)) fs)) (newline)
