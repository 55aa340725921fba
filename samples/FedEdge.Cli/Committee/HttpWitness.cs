using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using FedEdge.Transparency;

namespace FedEdge.Cli.Committee;

/// <summary>
/// A remote <c>fededge validator</c> reached over HTTPS (POST <c>/cosign</c>). The server's certificate must be exactly
/// the one the committee file names for it (pinned); plain http:// is accepted on loopback only.
/// </summary>
internal sealed class HttpWitness : ITreeHeadWitness, IDisposable
{
    private readonly HttpClient _client;
    private readonly Uri _endpoint;

    public HttpWitness(string id, Uri endpoint, X509Certificate2? pinned)
    {
        Id = id;
        _endpoint = new Uri(endpoint, "/cosign");
        var handler = new HttpClientHandler();
        if (pinned is not null)
        {
            byte[] expected = pinned.RawData;
            handler.ServerCertificateCustomValidationCallback = (_, certificate, _, _) => certificate is not null && certificate.RawData.AsSpan().SequenceEqual(expected);
        }

        _client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    public string Id { get; }

    public async ValueTask<WitnessVerdict> CoSignAsync(CoSignRequest request, CancellationToken cancellationToken = default)
    {
        using var content = new StringContent(CommitteeWire.Request(request), Encoding.UTF8, new MediaTypeHeaderValue("application/json"));
        using HttpResponseMessage response = await _client.PostAsync(_endpoint, content, cancellationToken).ConfigureAwait(false);
        string body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"{Id} answered {(int)response.StatusCode}: {body}");
        }

        return CommitteeWire.ParseVerdict(body);
    }

    public void Dispose() => _client.Dispose();
}
