package main

// Each function's first instruction is the class it is named for.
func pushReg()
func callRel32()
func jmpRel8()
func jcc()
func nop1()
func nopl()
func nopw()
func cmpStackBound()
func movReg()
func ret()
func empty()

var classes = []class{
	{"push", "main.pushReg", pushReg},
	{"call", "main.callRel32", callRel32},
	{"jmp", "main.jmpRel8", jmpRel8},
	{"jcc", "main.jcc", jcc},
	{"nop", "main.nop1", nop1},
	{"nopl", "main.nopl", nopl},
	{"nopw", "main.nopw", nopw},
	{"cmp", "main.cmpStackBound", cmpStackBound},
	{"mov", "main.movReg", movReg},
	{"ret", "main.ret", ret},
}
