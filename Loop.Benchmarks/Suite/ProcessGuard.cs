using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Loop.Benchmarks.Suite;

/// <summary>
/// Every process the runner starts (nginx, the client children, the tools) is tracked here and
/// killed when the runner ends: normally, on an exception, on Ctrl-C (SIGINT) or on SIGTERM, so
/// no server is left running behind a failed or interrupted run.
/// </summary>
internal static class ProcessGuard
{
    private static readonly List<Process> s_processes = [];
    private static readonly Lock s_lock = new();
    private static PosixSignalRegistration[]? s_signals;

    /// <summary>Installs the signal and exit hooks (once).</summary>
    public static void Install()
    {
        lock (s_lock)
        {
            if (s_signals is not null)
            {
                return;
            }

            // The handlers kill what was started and then let the signal end the runner as usual.
            s_signals =
            [
                PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => KillAll()),
                PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => KillAll()),
                PosixSignalRegistration.Create(PosixSignal.SIGHUP, _ => KillAll()),
            ];
            AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();
        }
    }

    /// <summary>Kills <paramref name="process"/> (and its children) when the runner ends, if it is still running.</summary>
    public static void Track(Process process)
    {
        lock (s_lock)
        {
            s_processes.Add(process);
        }
    }

    /// <summary>Kills every tracked process that is still running.</summary>
    public static void KillAll()
    {
        Process[] processes;
        lock (s_lock)
        {
            processes = [.. s_processes];
            s_processes.Clear();
        }

        foreach (Process process in processes)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // It ended between the check and the kill, or was never ours to kill: either way it is gone.
            }
        }
    }
}
