//! Clinic and appointment-type settings.

use super::{Rappel, ServiceError};
use crate::domain::{AppointmentType, Clinic, ClinicSettings, TypeCode, TypeSettings};

impl Rappel {
    /// Replaces the clinic's settings; returns them as `GET /v1/clinic` will.
    pub async fn put_clinic_settings(
        &self,
        clinic: &Clinic,
        settings: ClinicSettings,
    ) -> Result<ClinicSettings, ServiceError> {
        let updated = Clinic {
            id: clinic.id.clone(),
            settings,
        };
        self.store.put_clinic(&updated).await?;
        Ok(updated.settings)
    }

    /// Creates or replaces a type; `true` when it was new.
    pub async fn put_appointment_type(
        &self,
        clinic: &Clinic,
        code: TypeCode,
        settings: TypeSettings,
    ) -> Result<(bool, AppointmentType), ServiceError> {
        let appointment_type = AppointmentType { code, settings };
        let created = self.store.put_type(&clinic.id, &appointment_type).await?;
        Ok((created, appointment_type))
    }

    /// The clinic's types, by code.
    pub async fn appointment_types(&self, clinic: &Clinic) -> Result<Vec<AppointmentType>, ServiceError> {
        Ok(self.store.types(&clinic.id).await?)
    }
}
