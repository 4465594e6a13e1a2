module latency

go 1.22
