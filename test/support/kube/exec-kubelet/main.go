// exec-kubelet serves the kubelet's exec endpoint for the test cluster's one node. kwok simulates
// the node and the pods, but its own exec (v0.6.1, also on its main branch) wraps the command's exit
// error, so the streaming server finds no exit code and reports every non-zero exit as an
// InternalError; a real kubelet reports NonZeroExitCode with the code, which the adapter relies on.
// This server uses the kubelet's own streaming code and runs the commands of the selected
// containers as local processes, with the container's env from the pod spec.
//
// It runs in a private mount namespace (started under `unshare -m`), where it mounts an overlay
// on /etc and binds test directories into it (e.g. the ldap image's /etc/openldap).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	remotecommandconsts "k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientremotecommand "k8s.io/client-go/tools/remotecommand"
	"k8s.io/kubelet/pkg/cri/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

type binds []string

func (b *binds) String() string     { return strings.Join(*b, ",") }
func (b *binds) Set(v string) error { *b = append(*b, v); return nil }

var (
	listen      = flag.String("listen", "127.0.0.1:10250", "address to serve on")
	tlsCert     = flag.String("tls-cert-file", "", "serving certificate")
	tlsKey      = flag.String("tls-private-key-file", "", "serving key")
	clientCA    = flag.String("client-ca-file", "", "CA of the clients allowed to exec (the API server's kubelet client certificate)")
	kubeconfig  = flag.String("kubeconfig", "", "credentials of this node, to read the pod's container env")
	containers  = flag.String("containers", "", "comma-separated container names whose commands run here")
	pathEnv     = flag.String("path", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "PATH of the commands (the image's PATH)")
	envFile     = flag.String("env-file", "", "KEY=VALUE lines added to every command's env; read at each exec")
	dropFile    = flag.String("drop-file", "", "holds a count n: the next n execs lose their connection (TCP reset) after their first output")
	hostMountNS = flag.String("host-mount-ns", "", "the mount namespace (readlink /proc/self/ns/mnt) this server must NOT be in before it mounts anything")
	etcUpper    = flag.String("etc-upper", "", "overlay upper dir for /etc (with -etc-work)")
	etcWork     = flag.String("etc-work", "", "overlay work dir for /etc")
	maxRuntime  = flag.Duration("max-runtime", 10*time.Minute, "commands still running after this are killed")
	bindMounts  binds
)

func main() {
	flag.Var(&bindMounts, "bind", "SOURCE=TARGET bind mount inside the private mount namespace (repeatable)")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	if err := isolate(); err != nil {
		log.Fatalf("mount namespace: %v", err)
	}
	clients, err := podClient()
	if err != nil {
		log.Fatalf("kubeconfig: %v", err)
	}
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(*clientCA)
	if err != nil || !pool.AppendCertsFromPEM(ca) {
		log.Fatalf("client CA %s: %v", *clientCA, err)
	}
	s := &server{pods: clients, local: map[string]bool{}}
	for _, c := range strings.Split(*containers, ",") {
		if c != "" {
			s.local[c] = true
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("/exec/", s.serveExec)
	srv := &http.Server{
		Addr:              *listen,
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		// SPDY and websocket upgrades are HTTP/1.1 only.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		TLSConfig:    &tls.Config{MinVersion: tls.VersionTLS12, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven},
		// The connection, so that the drop fault can reset it under the stream.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) },
	}
	log.Printf("serving the exec endpoint on https://%s for containers %q", *listen, *containers)
	log.Fatal(srv.ListenAndServeTLS(*tlsCert, *tlsKey))
}

// isolate mounts the overlay and the binds, after making sure that they cannot reach the host.
func isolate() error {
	if *etcUpper == "" && len(bindMounts) == 0 {
		return nil
	}
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return err
	}
	if *hostMountNS == "" || self == *hostMountNS {
		return fmt.Errorf("not in a private mount namespace (%s); refusing to mount", self)
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making / private: %w", err)
	}
	if *etcUpper != "" {
		opts := fmt.Sprintf("lowerdir=/etc,upperdir=%s,workdir=%s", *etcUpper, *etcWork)
		if err := syscall.Mount("overlay", "/etc", "overlay", 0, opts); err != nil {
			return fmt.Errorf("overlay on /etc: %w", err)
		}
	}
	for _, b := range bindMounts {
		src, dst, ok := strings.Cut(b, "=")
		if !ok {
			return fmt.Errorf("-bind %q: want SOURCE=TARGET", b)
		}
		if err := syscall.Mount(src, dst, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s on %s: %w", src, dst, err)
		}
		log.Printf("bound %s on %s", src, dst)
	}
	return nil
}

func podClient() (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

type connKey struct{}

type server struct {
	pods  kubernetes.Interface
	local map[string]bool
	mu    sync.Mutex // guards the drop file's read-decrement-write
}

// serveExec handles /exec/{namespace}/{pod}/{container} and /exec/{namespace}/{pod}/{uid}/{container}.
func (s *server) serveExec(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/exec/"), "/"), "/")
	var ns, pod, container string
	var uid types.UID
	switch len(parts) {
	case 3:
		ns, pod, container = parts[0], parts[1], parts[2]
	case 4:
		ns, pod, uid, container = parts[0], parts[1], types.UID(parts[2]), parts[3]
	default:
		http.NotFound(w, r)
		return
	}
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	cmd := r.URL.Query()["command"]
	remotecommand.ServeExec(w, r, s, ns+"/"+pod, uid, container, cmd, opts, 5*time.Minute, 30*time.Second, remotecommandconsts.SupportedStreamingProtocols)
}

// ExecInContainer runs the command as a local process. name is "namespace/pod".
func (s *server) ExecInContainer(ctx context.Context, name string, _ types.UID, container string, argv []string, in io.Reader, out, errOut io.WriteCloser, tty bool, _ <-chan clientremotecommand.TerminalSize, _ time.Duration) error {
	ns, pod, _ := strings.Cut(name, "/")
	if tty {
		return errors.New("this test node has no TTY support")
	}
	if len(argv) == 0 {
		return errors.New("no command")
	}
	if !s.local[container] {
		return fmt.Errorf("container %q of pod %s has no local commands on this test node", container, name)
	}
	env, err := s.containerEnv(ctx, ns, pod, container)
	if err != nil {
		return err
	}
	bin, err := lookPath(argv[0])
	if err != nil {
		// As containerd words a command missing from the image.
		return fmt.Errorf("failed to exec in container: exec: %q: %w", argv[0], err)
	}
	session := &session{drop: s.takeDrop(), conn: ctx.Value(connKey{})}
	// Own process group: the runtime bound kills the command with its children.
	c := &exec.Cmd{Path: bin, Args: argv, Env: env, Dir: "/", SysProcAttr: &syscall.SysProcAttr{Setpgid: true}}
	if in != nil {
		c.Stdin = in
	}
	if out != nil {
		c.Stdout = &streamWriter{w: out, s: session}
	}
	if errOut != nil {
		c.Stderr = &streamWriter{w: errOut, s: session}
	}
	if err := c.Start(); err != nil {
		return fmt.Errorf("failed to exec in container: %w", err)
	}
	// Not bound to the request: a command keeps running when its connection breaks, as in a pod.
	timer := time.AfterFunc(*maxRuntime, func() { _ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL) })
	err = c.Wait()
	timer.Stop()
	code := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	} else if err != nil {
		return err
	}
	log.Printf("exec %s/%s %q: exit %d, connection dropped: %t", name, container, argv, code, session.dropped)
	if code != 0 {
		// Worded as containerd's streaming server reports it.
		return utilexec.CodeExitError{Err: fmt.Errorf("error executing command %v, exit code %d", argv, code), Code: code}
	}
	return nil
}

// containerEnv is what the container's processes see: PATH, then the literal env of the pod spec,
// then the env file.
func (s *server) containerEnv(ctx context.Context, ns, pod, container string) ([]string, error) {
	p, err := s.pods.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading pod %s/%s: %w", ns, pod, err)
	}
	env := []string{"PATH=" + *pathEnv, "HOME=/root", "HOSTNAME=" + pod}
	found := false
	for _, c := range p.Spec.Containers {
		if c.Name != container {
			continue
		}
		found = true
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				env = append(env, e.Name+"="+e.Value)
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("container %q not found in pod %s/%s", container, ns, pod)
	}
	if *envFile != "" {
		data, err := os.ReadFile(*envFile)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		for _, line := range strings.Split(string(data), "\n") {
			if k, _, ok := strings.Cut(line, "="); ok && k != "" && !strings.HasPrefix(k, "#") {
				env = append(env, line)
			}
		}
	}
	return env, nil
}

// takeDrop consumes one count of the drop file, if any.
func (s *server) takeDrop() bool {
	if *dropFile == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := os.ReadFile(*dropFile)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || n <= 0 {
		return false
	}
	if err := os.WriteFile(*dropFile, []byte(strconv.Itoa(n-1)), 0o600); err != nil {
		log.Printf("drop file: %v", err)
	}
	return true
}

func lookPath(file string) (string, error) {
	if strings.Contains(file, "/") {
		return file, executable(file)
	}
	for _, dir := range filepath.SplitList(*pathEnv) {
		p := filepath.Join(dir, file)
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", errors.New("executable file not found in $PATH")
}

func executable(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s: permission denied", p)
	}
	return nil
}

// session is one exec's connection state, shared by its stdout and stderr.
type session struct {
	drop    bool
	conn    any
	once    sync.Once
	dropped bool
}

// afterOutput resets the TCP connection under the stream right after the first output (no TLS
// close, no exit status), as a failing network or a dying node would. It runs inside the first
// Write, so the exit status cannot go out first; the short pause lets that output reach the API
// server before the reset.
func (s *session) afterOutput() {
	if !s.drop {
		return
	}
	s.once.Do(func() {
		s.dropped = true
		tc, ok := s.conn.(*tls.Conn)
		if !ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
		if tcp, ok := tc.NetConn().(*net.TCPConn); ok {
			_ = tcp.SetLinger(0)
		}
		_ = tc.NetConn().Close()
	})
}

// streamWriter forwards output to the stream; once the stream fails it discards the rest, so that
// the command is never blocked on a full pipe and runs to its end.
type streamWriter struct {
	w      io.Writer
	s      *session
	broken bool
}

func (sw *streamWriter) Write(p []byte) (int, error) {
	if !sw.broken {
		if _, err := sw.w.Write(p); err != nil {
			sw.broken = true
		} else {
			sw.s.afterOutput()
		}
	}
	return len(p), nil
}
