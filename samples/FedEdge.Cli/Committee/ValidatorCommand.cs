using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Aggregation;
using FedEdge.Rounds;
using FedEdge.Security;
using FedEdge.Transparency;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FedEdge.Cli.Committee;

/// <summary>
/// <c>fededge validator</c>: one committee member as a process. It listens on 127.0.0.1:PORT (HTTPS with its
/// certificate from <c>fededge pki issue --server NAME</c>; plain HTTP on loopback without one), answers POST
/// <c>/cosign</c> with <see cref="TreeHeadValidator"/>, co-signs with its key (a 0600 file) and keeps its last co-signed
/// head in <c>--state DIR</c>.
/// </summary>
internal static class ValidatorCommand
{
    public static Command Create()
    {
        Option<string> name = new("--name") { Description = "The validator's name, as in the committee file.", DefaultValueFactory = _ => "validator", HelpName = "NAME" };
        Option<int> port = new Option<int>("--port") { Description = "The loopback port to listen on (0 picks a free one; the line 'listening on URL' names it).", DefaultValueFactory = _ => 7400 }.Between(0, 65535);
        Option<FileInfo?> cert = new Option<FileInfo?>("--cert") { Description = "The validator's certificate (PEM, e.g. from fededge pki issue --server NAME): serves HTTPS; the committee file lists it.", HelpName = "FILE" }.ReadableFile();
        Option<FileInfo?> key = new Option<FileInfo?>("--key") { Description = "The validator's ECDSA P-256 private key (PEM, mode 0600): signs its co-signatures (and TLS with --cert).", HelpName = "FILE" }.ReadableFile();
        Option<FileInfo?> logKey = new Option<FileInfo?>("--log-key") { Description = "The transparency log's public key or the coordinator's certificate (PEM): heads must be signed by it.", HelpName = "FILE" }.ReadableFile();
        Option<DirectoryInfo?> state = new("--state") { Description = "Where the validator keeps the last head it co-signed (witness-state.json).", HelpName = "DIR" };
        Option<int> byzantine = new Option<int>("--byzantine") { Description = "f for krum, multikrum and bulyan when recomputing (as the coordinator's --byzantine).", DefaultValueFactory = _ => 1, HelpName = "F" }.AtLeast(0);
        Option<string> mixing = MixingOption.Create("Pre-aggregation when recomputing a round (as the coordinator's --mixing, resolved per round for the strategy its record names); a different value recomputes a different model and the head is refused.");
        Option<FileInfo?> ca = new Option<FileInfo?>("--ca") { Description = "The federation CA (PEM): every update entry of a recomputed round must be signed by a device certificate it issued for that device.", HelpName = "FILE" }.ReadableFile();
        Option<int> minThreshold = new Option<int>("--min-threshold") { Description = "The lowest secure-aggregation threshold a round's transcript may name.", DefaultValueFactory = _ => 2, HelpName = "T" }.AtLeast(2);
        Command command = new("validator", "Run a committee validator: co-signs the coordinator's tree heads after checking consistency, recomputing each round's aggregate (from the folded updates, or a secure-aggregation round's transcript and sum), and linking each update to its device signature.") { name, port, cert, key, logKey, state, byzantine, mixing, ca, minThreshold };
        command.SetAction(async (parse, cancellationToken) =>
        {
            TextWriter stdout = parse.InvocationConfiguration.Output;
            TextWriter err = parse.InvocationConfiguration.Error;
            const string Prefix = "fededge validator: ";
            if (parse.GetValue(key) is not { } keyFile || parse.GetValue(logKey) is not { } logKeyFile || parse.GetValue(state) is not { } stateDir)
            {
                await err.WriteLineAsync(Prefix + "--key FILE, --log-key FILE and --state DIR are required.").ConfigureAwait(false);
                return CliErrors.Usage;
            }

            ECDsa signingKey;
            X509Certificate2? tls = null;
            X509Certificate2? deviceAuthority = null;
            string logKeyPem;
            try
            {
                signingKey = KeyFiles.ReadPrivateKey(keyFile.FullName);
                if (parse.GetValue(cert) is { } certFile)
                {
                    tls = KeyFiles.MakeUsableForTls(KeyFiles.ReadCertificateWithKey(certFile.FullName, keyFile.FullName));
                }

                if (parse.GetValue(ca) is { } caFile)
                {
                    deviceAuthority = X509Certificate2.CreateFromPem(File.ReadAllText(caFile.FullName));
                }

                using ECDsa pinned = TreeHeadCommittee.ImportKey(File.ReadAllText(logKeyFile.FullName), "log");
                logKeyPem = pinned.ExportSubjectPublicKeyInfoPem();
            }
            catch (Exception ex) when (ex is CredentialException or IOException or UnauthorizedAccessException or ArgumentException or CryptographicException)
            {
                await err.WriteLineAsync(Prefix + ex.Message.ReplaceLineEndings(" ")).ConfigureAwait(false);
                return CliErrors.Usage;
            }

            int f = parse.GetValue(byzantine);
            string mixingValue = parse.GetValue(mixing)!;
            using (signingKey)
            using (tls)
            using (deviceAuthority)
            {
                TreeHeadValidator validator;
                try
                {
                    validator = new TreeHeadValidator(parse.GetValue(name)!, signingKey, logKeyPem, stateDir.FullName, strategy => AggregationStrategies.Create(strategy, new AggregationOptions { ByzantineCount = f, PreAggregation = MixingOption.Resolve(mixingValue, strategy) }), new TreeHeadValidatorOptions { DeviceAuthority = deviceAuthority, MinimumThreshold = parse.GetValue(minThreshold) });
                }
                catch (Exception ex) when (ex is InvalidDataException or ArgumentException or IOException or UnauthorizedAccessException)
                {
                    await err.WriteLineAsync(Prefix + ex.Message.ReplaceLineEndings(" ")).ConfigureAwait(false);
                    return CliErrors.Usage;
                }

                using (validator)
                {
                    return await ServeAsync(validator, parse.GetValue(port), tls, stdout, err, cancellationToken).ConfigureAwait(false);
                }
            }
        });
        return command;
    }

    /// <summary>
    /// For a secure-aggregation round (a transcript entry, or an unmasked sum sent): one line saying what the transcript
    /// check covered (roster, threshold, the sum's hash) and its outcome; null for a plaintext round.
    /// </summary>
    internal static string? TranscriptNote(CoSignRequest request, WitnessVerdict verdict)
    {
        LedgerEntry? transcript = null;
        foreach (ReadOnlyMemory<byte> leaf in request.Entries ?? [])
        {
            try
            {
                LedgerEntry entry = LedgerEntry.Parse(leaf.Span).Entry;
                if (entry.Kind == LedgerEntryKind.Transcript && entry.Round == request.Round)
                {
                    transcript = entry;
                }
            }
            catch (InvalidDataException)
            {
                // The validator's verdict names an unreadable entry.
            }
        }

        if (transcript is null && request.SecureSum.IsEmpty)
        {
            return null;
        }

        string what = transcript is null
            ? "no transcript entry"
            : string.Create(CultureInfo.InvariantCulture, $"roster {transcript.Roster?.Count ?? 0}, threshold {transcript.Threshold}, contributors {transcript.Participants?.Count ?? 0}, recovered dropouts {transcript.Dropouts?.Count ?? 0}, sum {(request.SecureSum.IsEmpty ? "missing" : SecureAggregationTranscript.SumHash(request.SecureSum.Span)[..16])}");
        return string.Create(CultureInfo.InvariantCulture, $"round {request.Round}: secure-aggregation transcript ({what}): {(verdict.CoSignature is null ? "refused: " + verdict.Refusal : "roster, threshold and sum hash checked")}");
    }

    private static async Task<int> ServeAsync(TreeHeadValidator validator, int port, X509Certificate2? tls, TextWriter stdout, TextWriter err, CancellationToken cancellationToken)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = 512L * 1024 * 1024;
            k.Listen(IPAddress.Loopback, port, listen =>
            {
                if (tls is not null)
                {
                    listen.UseHttps(tls);
                }
            });
        });
        await using WebApplication app = builder.Build();
        app.MapPost("/cosign", async (HttpRequest request, CancellationToken ct) =>
        {
            using var reader = new StreamReader(request.Body);
            CoSignRequest parsed;
            try
            {
                parsed = CommitteeWire.ParseRequest(await reader.ReadToEndAsync(ct).ConfigureAwait(false));
            }
            catch (InvalidDataException ex)
            {
                return Results.Text(CommitteeWire.Verdict(WitnessVerdict.Refused(ex.Message, validator.LastSignedSize)), "application/json", statusCode: 200);
            }

            WitnessVerdict verdict = await validator.CoSignAsync(parsed, ct).ConfigureAwait(false);
            if (TranscriptNote(parsed, verdict) is { } note)
            {
                await err.WriteLineAsync(note).ConfigureAwait(false);
            }

            await err.WriteLineAsync($"round {parsed.Round}: head {parsed.Head.Size} {(verdict.CoSignature is null ? "refused: " + verdict.Refusal : "co-signed")}").ConfigureAwait(false);
            return Results.Text(CommitteeWire.Verdict(verdict), "application/json");
        });
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            await err.WriteLineAsync($"fededge validator: cannot listen on 127.0.0.1:{port}: {ex.Message}").ConfigureAwait(false);
            return CliErrors.Runtime;
        }

        string url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? $"127.0.0.1:{port}";
        await stdout.WriteLineAsync($"validator {validator.Id} listening on {url} (last co-signed head size {validator.LastSignedSize})").ConfigureAwait(false);
        await stdout.FlushAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // SIGTERM reaches the web host's lifetime (which takes over the signal), Ctrl+C the command's token: either stops.
            using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, app.Lifetime.ApplicationStopping);
            await Task.Delay(Timeout.Infinite, stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Ctrl+C or SIGTERM: stop serving.
        }

        await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        return 0;
    }
}
