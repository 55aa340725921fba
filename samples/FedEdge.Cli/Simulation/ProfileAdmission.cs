using FedEdge.Admission;

namespace FedEdge.Cli.Simulation;

/// <summary>
/// The <c>fededge coordinator</c> process's registered-profile check: a device must present a MUD URL, and that
/// URL must be the profile the operator registered for it with <c>--device</c>. <c>fededge simulate</c> uses
/// FedEdge.Mud's signed RFC 8520 admission (<c>MudAdmissionPolicy</c>) behind the same port.
/// </summary>
internal sealed class ProfileAdmission(IReadOnlyDictionary<string, Uri> profiles) : IAdmissionPolicy
{
    public ValueTask<AdmissionDecision> EvaluateAsync(AdmissionRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.MudUrl is null)
        {
            return ValueTask.FromResult(AdmissionDecision.Refuse("no MUD URL presented: the device has no profile"));
        }

        if (!profiles.TryGetValue(request.DeviceId, out Uri? expected))
        {
            return ValueTask.FromResult(AdmissionDecision.Refuse($"no registered profile for device '{request.DeviceId}'"));
        }

        return ValueTask.FromResult(expected == request.MudUrl
            ? AdmissionDecision.Admit("profile " + expected)
            : AdmissionDecision.Refuse($"MUD URL {request.MudUrl} is not the registered profile {expected}"));
    }
}
