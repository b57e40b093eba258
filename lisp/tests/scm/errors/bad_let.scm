;; compile-error: bad_let.scm:3:7: error: bad `let` binding
;; compile-error: (let ((x)) x)
(let ((x)) x)
