using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace FedEdge.Testing;

/// <summary>The configuration of a <see cref="MosquittoBroker"/> under test.</summary>
public sealed class MosquittoConfig
{
    /// <summary>User names and passwords written with <c>mosquitto_passwd</c>.</summary>
    public IDictionary<string, string> Users { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>The ACL file's content; null allows every authenticated user everything.</summary>
    public string? Acl { get; set; }

    /// <summary>Persist sessions and retained messages (autosaved every second) so they survive a kill and restart.</summary>
    public bool Persistence { get; set; }

    /// <summary>PEM paths of a TLS listener with required client certificates (the certificate's CN is the user name); null for no TLS listener.</summary>
    public (string CaFile, string CertFile, string KeyFile)? Tls { get; set; }
}

/// <summary>
/// A real Mosquitto broker (Debian's <c>/usr/sbin/mosquitto</c>) started as a process on free 127.0.0.1 ports with a
/// generated configuration, password file and ACL. <see cref="StartAsync"/> returns null on a machine without
/// Mosquitto, and throws in CI (<see cref="RepoPaths.IsCi"/>) so that such tests cannot silently skip there.
/// </summary>
public sealed class MosquittoBroker : IAsyncDisposable
{
    /// <summary>Where Debian installs the broker.</summary>
    public const string Executable = "/usr/sbin/mosquitto";

    private const string PasswdTool = "/usr/bin/mosquitto_passwd";
    private readonly string _directory;
    private readonly string _configPath;
    private Process? _process;

    private MosquittoBroker(string directory, string configPath, int port, int? tlsPort)
    {
        _directory = directory;
        _configPath = configPath;
        Port = port;
        TlsPort = tlsPort;
    }

    /// <summary>The plain MQTT port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>The TLS port, when configured.</summary>
    public int? TlsPort { get; }

    /// <summary><c>mqtt://127.0.0.1:{Port}</c>.</summary>
    public Uri Uri => new($"mqtt://127.0.0.1:{Port}");

    /// <summary><c>mqtts://localhost:{TlsPort}</c>.</summary>
    public Uri TlsUri => new($"mqtts://localhost:{TlsPort ?? throw new InvalidOperationException("No TLS listener configured.")}");

    /// <summary>True when Mosquitto and mosquitto_passwd are installed.</summary>
    public static bool IsInstalled => File.Exists(Executable) && File.Exists(PasswdTool);

    /// <summary>The broker's log so far.</summary>
    public string Log => File.Exists(Path.Combine(_directory, "mosquitto.log")) ? File.ReadAllText(Path.Combine(_directory, "mosquitto.log")) : string.Empty;

    /// <summary>Starts a broker, or returns null when Mosquitto is not installed outside CI.</summary>
    /// <exception cref="InvalidOperationException">Mosquitto is missing in CI, or it did not start.</exception>
    public static async Task<MosquittoBroker?> StartAsync(MosquittoConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (!IsInstalled)
        {
            if (RepoPaths.IsCi)
            {
                throw new InvalidOperationException($"CI must run the Mosquitto integration tests but {Executable} or {PasswdTool} is missing; install the 'mosquitto' package.");
            }

            return null;
        }

        string directory = Directory.CreateTempSubdirectory("fededge-mosquitto-").FullName;
        string passwords = Path.Combine(directory, "passwd");
        File.WriteAllText(passwords, string.Empty);
        foreach ((string user, string password) in config.Users)
        {
            await RunAsync(PasswdTool, ["-b", passwords, user, password]).ConfigureAwait(false);
        }

        int port = LoopbackPorts.Free();
        int? tlsPort = config.Tls is null ? null : LoopbackPorts.Free();
        var conf = new StringBuilder();
        conf.Append("per_listener_settings false\n");
        conf.Append("allow_anonymous false\n");
        conf.Append("password_file ").Append(passwords).Append('\n');
        if (config.Acl is not null)
        {
            string acl = Path.Combine(directory, "acl");
            File.WriteAllText(acl, config.Acl);
            conf.Append("acl_file ").Append(acl).Append('\n');
        }

        if (string.Equals(Environment.UserName, "root", StringComparison.Ordinal))
        {
            conf.Append("user root\n");
        }

        conf.Append("log_dest file ").Append(Path.Combine(directory, "mosquitto.log")).Append('\n');
        conf.Append("log_type all\n");
        if (config.Persistence)
        {
            conf.Append("persistence true\npersistence_location ").Append(directory).Append("/\nautosave_interval 1\n");
        }

        conf.Append("listener ").Append(port).Append(" 127.0.0.1\n");
        if (config.Tls is { } tls)
        {
            conf.Append("listener ").Append(tlsPort).Append(" 127.0.0.1\n");
            conf.Append("cafile ").Append(tls.CaFile).Append('\n');
            conf.Append("certfile ").Append(tls.CertFile).Append('\n');
            conf.Append("keyfile ").Append(tls.KeyFile).Append('\n');
            conf.Append("require_certificate true\nuse_identity_as_username true\n");
        }

        string configPath = Path.Combine(directory, "mosquitto.conf");
        File.WriteAllText(configPath, conf.ToString());
        var broker = new MosquittoBroker(directory, configPath, port, tlsPort);
        await broker.LaunchAsync().ConfigureAwait(false);
        return broker;
    }

    /// <summary>
    /// Starts Mosquitto with a configuration rendered by the caller for a free 127.0.0.1 port (its only listener);
    /// <see cref="Port"/> is that port. Returns null when Mosquitto is not installed outside CI.
    /// </summary>
    public static Task<MosquittoBroker?> StartWithConfigAsync(Func<int, string, string> renderConfig) => StartWithConfigAsync(renderConfig, null);

    private static async Task<MosquittoBroker?> StartWithConfigAsync(Func<int, string, string> renderConfig, int? fixedPort)
    {
        ArgumentNullException.ThrowIfNull(renderConfig);
        if (!IsInstalled)
        {
            if (RepoPaths.IsCi)
            {
                throw new InvalidOperationException($"CI must run the Mosquitto integration tests but {Executable} is missing; install the 'mosquitto' package.");
            }

            return null;
        }

        string directory = Directory.CreateTempSubdirectory("fededge-mosquitto-").FullName;
        int port = fixedPort ?? LoopbackPorts.Free();
        var conf = new StringBuilder(renderConfig(port, directory));
        if (string.Equals(Environment.UserName, "root", StringComparison.Ordinal))
        {
            conf.Append("user root\n");
        }

        conf.Append("log_dest file ").Append(Path.Combine(directory, "mosquitto.log")).Append("\nlog_type all\n");
        string configPath = Path.Combine(directory, "mosquitto.conf");
        File.WriteAllText(configPath, conf.ToString());
        var broker = new MosquittoBroker(directory, configPath, port, null);
        await broker.LaunchAsync().ConfigureAwait(false);
        return broker;
    }

    /// <summary>
    /// Starts Mosquitto with a configuration file written by someone else (e.g. <c>fededge mosquitto-config</c>) whose
    /// only listener is <paramref name="port"/> on 127.0.0.1: the file is copied with this machine's user and log
    /// settings appended. Returns null when Mosquitto is not installed outside CI.
    /// </summary>
    public static async Task<MosquittoBroker?> StartFromFileAsync(string configPath, int port)
    {
        ArgumentException.ThrowIfNullOrEmpty(configPath);
        string text = File.ReadAllText(configPath);
        return await StartWithConfigAsync((_, _) => text, port).ConfigureAwait(false);
    }

    /// <summary>Kills the process at once (SIGKILL): no clean shutdown, no last save.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill();
            await process.WaitForExitAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Starts the broker again on the same ports with the same configuration.</summary>
    public Task RestartAsync() => LaunchAsync();

    /// <summary>
    /// Sends the running broker SIGHUP (Mosquitto's configuration reload) and waits until its log shows the reload
    /// (<c>Reloading config.</c>), within 15 s.
    /// </summary>
    public async Task ReloadAsync()
    {
        Process process = _process is { HasExited: false } p ? p : throw new InvalidOperationException("Mosquitto is not running.");
        int before = Reloads();
        using (Process kill = Process.Start(new ProcessStartInfo("/bin/kill", ["-HUP", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })!)
        {
            await kill.WaitForExitAsync().ConfigureAwait(false);
            if (kill.ExitCode != 0)
            {
                throw new InvalidOperationException($"kill -HUP {process.Id} exited with {kill.ExitCode}.");
            }
        }

        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (Reloads() <= before)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"Mosquitto did not log a reload within 15 s. Log:\n{Log}");
            }

            await Task.Delay(50).ConfigureAwait(false);
        }

        int Reloads() => Log.Split('\n').Count(l => l.Contains("Reloading config.", StringComparison.Ordinal));
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await KillAsync().ConfigureAwait(false);
        _process?.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private async Task LaunchAsync()
    {
        _process?.Dispose();
        var start = new ProcessStartInfo(Executable, ["-c", _configPath])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        _process = Process.Start(start) ?? throw new InvalidOperationException("Mosquitto did not start.");
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"Mosquitto exited with code {_process.ExitCode}. Log:\n{Log}");
            }

            if (await AcceptsAsync(Port).ConfigureAwait(false) && (TlsPort is null || await AcceptsAsync(TlsPort.Value).ConfigureAwait(false)))
            {
                return;
            }

            await Task.Delay(50).ConfigureAwait(false);
        }

        throw new InvalidOperationException($"Mosquitto did not accept connections on 127.0.0.1:{Port} within 15 s. Log:\n{Log}");
    }

    private static async Task<bool> AcceptsAsync(int port)
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, port).ConfigureAwait(false);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static async Task RunAsync(string file, string[] args)
    {
        using Process process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false })
            ?? throw new InvalidOperationException($"{file} did not start.");
        string error = await process.StandardError.ReadToEndAsync().ConfigureAwait(false);
        await process.WaitForExitAsync().ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({process.ExitCode}): {error}");
        }
    }
}
