# The waiter a created container's init execs into (runcgo/kernel/waiter.py says why).
# Build: as -o w.o waiter_x86_64.s && objcopy -O binary -j .text w.o w.bin (= waiter.CODE).
# At _start: [rsp] argc, [rsp+8] argv[0] (the executable), [rsp+16] argv[1..] (the
# process's args), then envp.  Data (after the code, at 'data') is appended by waiter.py.
.intel_syntax noprefix
.text
.globl _start
_start:
    mov edi, 4                  # prctl(PR_SET_DUMPABLE, 0): as the runtime's init was
    xor esi, esi
    mov eax, 157
    syscall
    lea rax, [rip+onsig]        # a signal that would end the process (as it ends `runc
    mov [rsp-64], rax           # init`) ends the wait: rt_sigaction(sig, {onsig,
    mov [rsp-48], rax           # SA_RESTORER (x86-64 wants one; onsig never returns),
    mov qword ptr [rsp-56], 0x04000000  # onsig, all blocked}, NULL, 8) for each of them
    mov qword ptr [rsp-40], -1
    mov ebx, 1
8:  mov eax, 0xef01fdfe         # HUP INT QUIT ILL TRAP ABRT BUS FPE USR1 SEGV USR2 PIPE ALRM
    bt eax, ebx                 # TERM STKFLT XCPU XFSZ VTALRM PROF IO PWR SYS
    jnc 9f
    mov edi, ebx
    lea rsi, [rsp-64]
    xor edx, edx
    mov r10d, 8
    mov eax, 13
    syscall
9:  inc ebx
    cmp ebx, 32
    jb 8b
wait:
    mov edi, 0x7ffffff0         # the exec FIFO's fd (patched in)
    lea rsi, [rsp-16]
    mov edx, 1
    xor eax, eax                # read(fd, buf, 1): blocks until `start` writes
    syscall
    test rax, rax
    jg started
    cmp rax, -4                 # EINTR
    je wait
    mov edi, 127                # end of file (no writer left: cannot happen on the O_RDWR
    mov eax, 231                # FIFO) or unreadable: exit_group(127), never a busy loop
    syscall
started:
    mov edi, 0x7ffffff0
    mov eax, 3                  # close(fd)
    syscall
    lea r13, [rip+data]
    cmp dword ptr [r13+4], 0    # a seccomp filter to load, as late as possible?
    je 5f
    mov edi, 1                  # seccomp(SECCOMP_SET_MODE_FILTER, flags, &sock_fprog)
    mov esi, dword ptr [r13]
    lea rdx, [r13+8]
    mov eax, 317
    syscall
    test rax, rax
    jns 5f
    neg eax                     # failed: "runcgo: seccomp(...): <strerror>\n", exit 1
    mov r12d, eax
    lea rsi, [r13+40]
    mov edx, 42
    call say
    call why
    mov edi, 1
    jmp 7f
5:  mov rdi, [rsp+8]            # execve(argv[0], &argv[1], envp)
    lea rsi, [rsp+16]
    mov rax, [rsp]
    lea rdx, [rsp+rax*8+16]
    mov eax, 59
    syscall
    neg eax                     # failed: "runcgo: exec <path>: <strerror>\n", exit 127
    mov r12d, eax
    lea rsi, [r13+24]           # "runcgo: exec "
    mov edx, 13
    call say
    mov rsi, [rsp+8]            # the path
    xor edx, edx
1:  cmp byte ptr [rsi+rdx], 0
    je 2f
    inc rdx
    jmp 1b
2:  call say
    lea rsi, [r13+37]           # ": "
    mov edx, 2
    call say
    call why
    mov edi, 127
7:  mov eax, 231                # exit_group
    syscall
why:                            # strerror(r12d) and "\n" on stderr
    lea rbx, [r13+84]           # table of (errno u8, length u8, offset u16), ends with errno 0
3:  movzx eax, byte ptr [rbx]
    cmp eax, r12d
    je 4f
    test eax, eax
    je 4f
    add rbx, 4
    jmp 3b
4:  movzx edx, byte ptr [rbx+1]
    movzx esi, word ptr [rbx+2]
    add rsi, r13
    call say
    lea rsi, [r13+39]           # "\n"
    mov edx, 1
    call say
    ret
onsig:                          # exit_group(128 + signal number)
    add edi, 128
    mov eax, 231
    syscall
say:                            # write(2, rsi, rdx)
    mov edi, 2
    mov eax, 1
    syscall
    ret
data:
