;; Proper tail calls: a 10-million-iteration named let, 1e6-deep mutual recursion, tail calls
;; in cond/case/and/or/when/unless/do/apply positions.  All must run in constant stack.
;; (No import form: runs in each Scheme's default environment.)
(define (show . xs) (for-each display xs) (newline))

(show "named let 1e7: "
      (let loop ((i 0) (acc 0))
        (if (= i 10000000) acc (loop (+ i 1) (+ acc (remainder i 7))))))

(define (my-even? n) (if (= n 0) #t (my-odd? (- n 1))))
(define (my-odd? n) (if (= n 0) #f (my-even? (- n 1))))
(show "mutual 1e6: " (my-even? 1000000) " " (my-odd? 1000001) " " (my-even? 999999))

(define (count-cond n) (cond ((= n 0) 'cond-done) (else (count-cond (- n 1)))))
(show "cond tail: " (count-cond 1000000))
(define (count-case n) (case n ((0) 'case-done) (else (count-case (- n 1)))))
(show "case tail: " (count-case 1000000))
(define (count-and n) (and #t (if (= n 0) 'and-done (count-and (- n 1)))))
(show "and tail: " (count-and 1000000))
(define (count-or n) (or (and (= n 0) 'or-done) (count-or (- n 1))))
(show "or tail: " (count-or 1000000))
(define (count-when n) (if (= n 0) 'when-done (when #t (count-when (- n 1)))))
(show "when tail: " (count-when 1000000))
(define (count-unless n) (if (= n 0) 'unless-done (unless #f (count-unless (- n 1)))))
(show "unless tail: " (count-unless 1000000))
(define (count-let n) (let ((m (- n 1))) (if (< m 0) 'let-done (count-let m))))
(show "let tail: " (count-let 1000000))
(define (count-begin n) (begin 'ignored (if (= n 0) 'begin-done (count-begin (- n 1)))))
(show "begin tail: " (count-begin 1000000))
(define (count-apply n) (if (= n 0) 'apply-done (apply count-apply (list (- n 1)))))
(show "apply tail: " (count-apply 1000000))
(define (count-lambda n) ((lambda (m) (if (= m 0) 'lambda-done (count-lambda (- m 1)))) n))
(show "lambda tail: " (count-lambda 1000000))
(show "do 1e6: " (do ((i 0 (+ i 1)) (s 0 (+ s 1))) ((= i 1000000) s)))

(define (ping n acc) (if (= n 0) acc (pong (- n 1) (+ acc 1))))
(define (pong n acc) (if (= n 0) acc (pang (- n 1) (+ acc 2))))
(define (pang n acc) (if (= n 0) acc (ping (- n 1) (+ acc 3))))
(show "three-way 3e6: " (ping 3000000 0))

(define (loop-with-closure n k) (if (= n 0) (k 'cps-done) (loop-with-closure (- n 1) k)))
(show "passing a continuation: " (loop-with-closure 1000000 (lambda (v) v)))
(define (cps-sum n k) (if (= n 0) (k 0) (cps-sum (- n 1) (lambda (s) (k (+ s n))))))
(show "cps sum 100000: " (cps-sum 100000 (lambda (s) s)))
