/* Go's register ABI (ABIInternal, Go >= 1.17): the current g lives in a
 * fixed register and integer arguments/results are passed in registers. */
#ifndef __OL_GOABI_H
#define __OL_GOABI_H

#if defined(__TARGET_ARCH_x86)
#define GO_G(r) ((r)->r14)
#define GO_REG_G_FIELD r14
#define GO_ARG1(r) ((r)->ax)
#define GO_ARG2(r) ((r)->bx)
#define GO_ARG3(r) ((r)->cx)
#define GO_ARG4(r) ((r)->di)
#define GO_ARG5(r) ((r)->si)
#define GO_ARG6(r) ((r)->r8)
#define GO_ARG7(r) ((r)->r9)
#define GO_RET1(r) ((r)->ax)
#define GO_RET2(r) ((r)->bx)
#elif defined(__TARGET_ARCH_arm64)
#define GO_G(r) ((r)->regs[28])
#define GO_REG_G_FIELD regs[28]
#define GO_ARG1(r) ((r)->regs[0])
#define GO_ARG2(r) ((r)->regs[1])
#define GO_ARG3(r) ((r)->regs[2])
#define GO_ARG4(r) ((r)->regs[3])
#define GO_ARG5(r) ((r)->regs[4])
#define GO_ARG6(r) ((r)->regs[5])
#define GO_ARG7(r) ((r)->regs[6])
#define GO_RET1(r) ((r)->regs[0])
#define GO_RET2(r) ((r)->regs[1])
#endif

#endif
