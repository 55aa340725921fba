using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Security;
using FedEdge.Transparency;
using Microsoft.Extensions.DependencyInjection;

namespace FedEdge.Cli;

/// <summary><c>fededge coordinator --ledger DIR [--ledger-key FILE] [--committee FILE]</c>: the transparency log and the remote committee, registered through DI.</summary>
internal static class CoordinatorCommittee
{
    /// <summary>Registers the log (and the committee); returns a one-line problem instead when the options cannot work.</summary>
    public static string? Add(FedEdgeCoordinationBuilder builder, string ledgerDirectory, string? ledgerKeyFile, FederationCredentials? credentials, string? committeeFile, TimeSpan timeout)
    {
        ECDsa? key;
        try
        {
            key = ledgerKeyFile is not null ? KeyFiles.ReadPrivateKey(ledgerKeyFile) : credentials?.Certificate.GetECDsaPrivateKey();
        }
        catch (CredentialException ex)
        {
            return ex.Message;
        }

        if (key is null)
        {
            return "--ledger and --committee need a key to sign the log: --ledger-key FILE (mode 0600), or the coordinator's --cert and --key.";
        }

        if (key.KeySize != 256)
        {
            return "the ledger key must be ECDSA P-256.";
        }

        builder.AddTransparencyLog(ledgerDirectory, key);
        if (committeeFile is null)
        {
            return null;
        }

        List<(string Name, string Pem, Uri? Endpoint)> members;
        try
        {
            members = CommitteeFile.ReadMembers(committeeFile);
        }
        catch (InvalidDataException ex)
        {
            return ex.Message;
        }

        if (members.FirstOrDefault(m => m.Endpoint is null) is { Name: { } missing } && members.Any(m => m.Endpoint is null))
        {
            return $"the committee file lists validator '{missing}' without an endpoint (https://HOST:PORT).";
        }

        var list = new List<CommitteeMember>();
        foreach ((string name, string pem, Uri? endpoint) in members)
        {
            X509Certificate2? pinned = pem.Contains("BEGIN CERTIFICATE", StringComparison.Ordinal) ? X509Certificate2.CreateFromPem(pem) : null;
            list.Add(new CommitteeMember(new Committee.HttpWitness(name, endpoint!, pinned), pem));
        }

        builder.AddCommittee(list, o => o.Timeout = timeout);
        return null;
    }
}
