package replicatest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"text/template"
)

// NginxConfig is the nginx config the harness runs, the same as
// examples/replicas/nginx.conf but for paths and ports (that file explains
// each setting). The upstream is round robin over the replicas, each taken
// out for fail_timeout after max_fails failures (passive health: open
// source nginx has no active checks). A request goes to the next replica on
// a connection error or timeout, or a 502/503 answer — for POSTs only while
// nothing was sent to the first one (nginx never retries a non-idempotent
// request once sent, and non_idempotent is deliberately not set: a chat
// completion is paid for, and may have queued a handoff conversation,
// before its answer is lost). Responses are not buffered and may stay
// silent for an hour: SSE (/live, the console's handoff events) and
// streamed completions pass as they are written.
const NginxConfig = `# Written by internal/replicatest; see examples/replicas/nginx.conf.
{{if .User}}user {{.User}};
{{end}}worker_processes 1;
events { worker_connections 1024; }
http {
    access_log {{.Prefix}}/access.log;
    client_body_temp_path {{.Prefix}}/tmp/client_body;
    proxy_temp_path {{.Prefix}}/tmp/proxy;
    fastcgi_temp_path {{.Prefix}}/tmp/fastcgi;
    uwsgi_temp_path {{.Prefix}}/tmp/uwsgi;
    scgi_temp_path {{.Prefix}}/tmp/scgi;

    upstream understudy {
{{- range .Servers}}
        server {{.}} max_fails=1 fail_timeout=5s;
{{- end}}
    }

    server {
        listen {{.Listen}};
        location / {
            proxy_pass http://understudy;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;

            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries 3;
            proxy_next_upstream_timeout 10s;
            proxy_connect_timeout 2s;

            proxy_buffering off;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
        }
    }
}
`

var nginxTemplate = template.Must(template.New("nginx").Parse(NginxConfig))

// startNginx writes the config for the replicas' addresses, starts nginx in
// the foreground on a free loopback port and waits until it answers
// /healthz through the upstream.
func (c *Cluster) startNginx(ctx context.Context) error {
	prefix := filepath.Join(c.dir, "nginx")
	for _, d := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		if err := os.MkdirAll(filepath.Join(prefix, "tmp", d), 0o700); err != nil {
			return err
		}
	}
	listen, err := freePort()
	if err != nil {
		return err
	}
	data := struct {
		User, Prefix, Listen string
		Servers              []string
	}{Prefix: prefix, Listen: listen}
	if os.Geteuid() == 0 {
		// Workers would run as nobody, who cannot use our temp paths.
		if u, err := user.Current(); err == nil {
			data.User = u.Username
			if g, err := user.LookupGroupId(u.Gid); err == nil {
				data.User += " " + g.Name
			}
		}
	}
	for _, r := range c.Replicas {
		data.Servers = append(data.Servers, strings.TrimPrefix(r.URL, "http://"))
	}
	var b strings.Builder
	if err := nginxTemplate.Execute(&b, data); err != nil {
		return err
	}
	conf := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o600); err != nil {
		return err
	}
	p, _, err := startProcess("nginx", filepath.Join(c.dir, "nginx.log"), nil, c.o.Nginx,
		"-p", prefix, "-c", conf, "-e", "stderr",
		"-g", "daemon off; master_process on; pid "+filepath.Join(prefix, "nginx.pid")+"; error_log stderr notice;")
	if err != nil {
		return err
	}
	c.nginx = p
	c.Proxy = "http://" + listen
	ctx, cancel := context.WithTimeout(ctx, c.o.StartTimeout)
	defer cancel()
	if err := c.waitOK(ctx, c.Proxy+"/healthz", p); err != nil {
		return fmt.Errorf("nginx: %w", err)
	}
	c.o.Logf("replicatest: nginx (pid %d) listening on %s", p.Pid(), c.Proxy)
	return nil
}

// freePort returns a loopback address free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
