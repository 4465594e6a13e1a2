module tlsname

go 1.21
