module outboundlens/test/probe

go 1.24.0
