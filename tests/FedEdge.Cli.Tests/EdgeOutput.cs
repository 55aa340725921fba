using System.Globalization;
using System.Text.RegularExpressions;

namespace FedEdge.Cli.Tests;

/// <summary>Reads a <c>fededge edge</c> process's edge round lines (<c>edge round N completed=… participants=…</c>).</summary>
internal static partial class EdgeOutput
{
    /// <summary>The completed edge rounds the edge has printed so far: round number and participants.</summary>
    public static (int Round, int Participants)[] EdgeRounds(CliProcess edge) =>
        [.. edge.StdoutLines.Select(l => EdgeLine().Match(l)).Where(m => m.Success && m.Groups["completed"].Value == "True")
            .Select(m => (int.Parse(m.Groups["round"].Value, CultureInfo.InvariantCulture), int.Parse(m.Groups["participants"].Value, CultureInfo.InvariantCulture)))];

    /// <summary>The completed edge rounds the edge has printed for cloud round <paramref name="cloudRound"/>, with their participants.</summary>
    public static int[] ParticipantsInCloudRound(CliProcess edge, int cloudRound) =>
        [.. edge.StdoutLines.Select(l => (Edge: EdgeLine().Match(l), Cloud: CloudRound().Match(l)))
            .Where(m => m.Edge.Success && m.Edge.Groups["completed"].Value == "True" && m.Cloud.Success && int.Parse(m.Cloud.Groups["n"].Value, CultureInfo.InvariantCulture) == cloudRound)
            .Select(m => int.Parse(m.Edge.Groups["participants"].Value, CultureInfo.InvariantCulture))];

    /// <summary>One edge round line, with its round number, outcome and participants.</summary>
    [GeneratedRegex(@"^edge round (?<round>\d+) completed=(?<completed>\w+) participants=(?<participants>\d+)")]
    public static partial Regex EdgeLine();

    /// <summary>The cloud round an edge round line belongs to.</summary>
    [GeneratedRegex(@" cloud_round=(?<n>\d+)")]
    private static partial Regex CloudRound();
}
