;; sieve: sieve of Eratosthenes on a vector of booleans up to 2 million, repeated
;; (vector-ref/vector-set!, tight loops).  Checksum: number of primes found, summed.
(define size 2000000)
(define iterations 10)
(define (sieve n)
  (let ((v (make-vector (+ n 1) #t)))
    (let loop ((i 2) (count 0))
      (if (> i n)
          count
          (if (vector-ref v i)
              (begin
                (when (<= (* i i) n)
                  (do ((j (* i i) (+ j i))) ((> j n)) (vector-set! v j #f)))
                (loop (+ i 1) (+ count 1)))
              (loop (+ i 1) count))))))
(define (run k acc) (if (= k 0) acc (run (- k 1) (+ acc (sieve size)))))
(display (run iterations 0))
(newline)
