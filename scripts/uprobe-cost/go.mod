module uprobecost

go 1.21
