namespace FedEdge.Cli;

/// <summary>
/// One <c>fededge coordinator --device</c> value: <c>ID=MUD_URL</c>, or <c>ID</c> when MUD admission judges the URL the
/// device presents. A value that carries anything else after the id (the old <c>ID=PASSWORD=MUD_URL</c> form) is
/// refused without echoing it: no secret on the command line.
/// </summary>
internal sealed record DeviceSpec(string Id, Uri? MudUrl)
{
    public static DeviceSpec? Parse(string spec, bool mudOptional, out string? problem)
    {
        problem = null;
        int equals = spec.IndexOf('=', StringComparison.Ordinal);
        string id = equals < 0 ? spec : spec[..equals];
        if (!Transport.Mqtt.MqttTopicScheme.IsValidSegment(id))
        {
            problem = "--device needs a device id (no '/', '+', '#', no leading '$' or spaces): ID=MUD_URL.";
            return null;
        }

        if (equals < 0)
        {
            if (mudOptional)
            {
                return new DeviceSpec(id, null);
            }

            problem = $"--device '{id}' needs its profile: ID=MUD_URL (or only ID with --mud).";
            return null;
        }

        string rest = spec[(equals + 1)..];
        if (Uri.TryCreate(rest, UriKind.Absolute, out Uri? url) && !string.IsNullOrEmpty(url.Host))
        {
            return new DeviceSpec(id, url);
        }

        problem = $"--device '{id}=…' is refused: it is ID=MUD_URL and carries no password. Put device passwords in a file (--device-passwords FILE, mode 0600, one ID=PASSWORD per line), or give devices certificates (--ca; `fededge pki issue --device ID`).";
        return null;
    }
}
