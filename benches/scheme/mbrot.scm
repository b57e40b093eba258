;; mbrot: Mandelbrot iteration counts over an N x N grid (float arithmetic in a tight loop).
;; Checksum: sum of all iteration counts.
(define size 600)
(define max-count 64)
(define (count r i step x y)
  (let ((cr (+ r (* (exact->inexact x) step)))
        (ci (+ i (* (exact->inexact y) step))))
    (let loop ((zr cr) (zi ci) (c 0))
      (if (= c max-count)
          c
          (let ((zr2 (* zr zr)) (zi2 (* zi zi)))
            (if (> (+ zr2 zi2) 16.0)
                c
                (loop (+ (- zr2 zi2) cr) (+ (* 2.0 (* zr zi)) ci) (+ c 1))))))))
(define (mbrot r i step n)
  (let loop-y ((y 0) (total 0))
    (if (= y n)
        total
        (loop-y (+ y 1)
                (let loop-x ((x 0) (total total))
                  (if (= x n) total (loop-x (+ x 1) (+ total (count r i step x y)))))))))
(display (mbrot -2.0 -1.25 (/ 2.5 (exact->inexact size)) size))
(newline)
