namespace FedEdge.Testing;

/// <summary>Writes secrets for CLI processes to owner-only files (the CLI refuses secrets on the command line).</summary>
public static class SecretFiles
{
    /// <summary>Writes <paramref name="secret"/> to DIR/NAME.secret with mode 0600 and returns the path (for <c>--password-file</c>).</summary>
    public static string Write(string directory, string name, string secret)
    {
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, name + ".secret");
        File.WriteAllText(path, secret + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        return path;
    }

    /// <summary>Writes DIR/device-passwords.secret (mode 0600, one ID=PASSWORD per line) for <c>fededge coordinator --device-passwords</c>.</summary>
    public static string WriteDevicePasswords(string directory, params (string Id, string Password)[] devices)
    {
        string path = Write(directory, "device-passwords", string.Join('\n', devices.Select(d => d.Id + "=" + d.Password)));
        return path;
    }
}
