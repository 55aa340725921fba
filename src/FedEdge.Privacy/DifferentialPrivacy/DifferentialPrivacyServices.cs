using Microsoft.Extensions.Options;

namespace FedEdge.Privacy.DifferentialPrivacy;

/// <summary>Validates <see cref="DifferentialPrivacyOptions"/> when the host starts.</summary>
internal sealed class DifferentialPrivacyOptionsValidator : IValidateOptions<DifferentialPrivacyOptions>
{
    public ValidateOptionsResult Validate(string? name, DifferentialPrivacyOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        try
        {
            options.Validate();
            return ValidateOptionsResult.Success;
        }
        catch (ArgumentException ex)
        {
            return ValidateOptionsResult.Fail(ex.Message);
        }
    }
}
